/**
 * The step runner shared by every node script, in two modes:
 * - apply: commands run, files are written (atomically, after a backup of
 *   the previous content), and each step says what it changed;
 * - plan (--dry-run): the same step code runs against a model of a fresh
 *   node; read-only checks get the model's answer, and every command and
 *   file write is printed instead of done. The plan cannot drift from what
 *   runs because it is what runs.
 */
import { UserError } from '../../config/errors';
import type { CommandResult, ExecOptions, Host } from './host';
import { redact } from './redact';
import { shellLine } from './shell';
import { compactTimestamp } from './time';

/** apply: change the node; plan: print the changes against a model; observe: read only (status), a change is a bug. */
export type Mode = 'apply' | 'plan' | 'observe';

/** Where the scripts' lines go, always through redact(). */
export interface Output {
  /** A line for the terminal and the log. */
  line(text: string): void;
  /** A line for the log only: what a command printed. */
  detail(text: string): void;
  /** Plan only: name each file write without its content (the short plan; --verbose shows the content). */
  brief?: boolean;
}

export function consoleOutput(log?: (line: string) => void): Output {
  return {
    line(text) {
      const safe = redact(text);
      console.log(safe);
      log?.(safe);
    },
    detail(text) {
      log?.(redact(text));
    },
  };
}

/**
 * A command that failed: one line naming the node, the step, the command, its exit code and its last stderr
 * lines. What decides a retry reads `output`, the command's whole stderr and stdout (redacted): the cause is
 * not always in the last lines (kubeadm prints its hints and the failed phase after the [ERROR ...] line).
 */
export class StepFailed extends UserError {
  readonly output: string;

  constructor(node: string, step: string, readonly argv: string[], readonly result: CommandResult) {
    // The program's own [ERROR ...] lines where it prints them (kubeadm's preflight), else its last lines.
    const lines = (result.stderr.trim() || result.stdout.trim()).split('\n');
    const errors = lines.filter((line) => /^\s*\[ERROR /.test(line)).map((line) => line.trim());
    const tail = (errors.length ? errors.slice(0, 3) : lines.slice(-3)).join(' | ');
    super([redact(`${node}: step "${step}" failed: \`${shellLine(argv)}\` exited ${result.code}${tail ? `: ${tail}` : ''}`)]);
    this.output = redact(`${result.stderr}\n${result.stdout}`);
  }
}

export interface Step {
  title: string;
  /** Does the step's work; returns what changed, or undefined when nothing needed doing. */
  apply(node: NodeRun): Promise<string | undefined>;
}

export interface WriteOptions {
  mode?: number;
  /** Content holds a secret: the plan shows it redacted. */
  secret?: boolean;
}

/** A step's summary from the things it did: joined with '; ', or undefined (nothing changed) when there are none. */
export function summarize(done: string[]): string | undefined {
  return done.length ? done.join('; ') : undefined;
}

/** One node's run of one script: the context every step works through. */
export class NodeRun {
  /** The step being run, named in failures. */
  stepTitle = '';
  /** Mutating commands and file writes done (apply) or planned (plan), for idempotency checks. */
  readonly changes: string[] = [];
  /** Runs after each file this run writes (the OS's own fix-ups, e.g. SELinux labels). */
  afterWrite?: (file: string) => Promise<void>;

  constructor(
    readonly nodeName: string,
    readonly host: Host,
    readonly mode: Mode,
    public out: Output,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Runs steps without printing or counting them (to bring a plan's model up to a later state). */
  async quietly<T>(body: () => Promise<T>): Promise<T> {
    const [out, changes] = [this.out, this.changes.length];
    this.out = { line: () => undefined, detail: () => undefined };
    try {
      return await body();
    } finally {
      this.out = out;
      this.changes.length = changes;
    }
  }

  get planning(): boolean {
    return this.mode === 'plan';
  }

  /** A read-only run (status) never gets to change anything: that would be a bug, not a user error. */
  private mayChange(what: string): void {
    if (this.mode === 'observe') throw new Error(`${this.nodeName}: a read-only run tried to change the node (${what})`);
  }

  /**
   * A read-only check. It runs in both modes; in plan mode the model host
   * answers it (see PlanHost), and the plan lists it as a check.
   */
  async query(argv: string[], options: ExecOptions & { mustSucceed?: boolean } = {}): Promise<CommandResult> {
    if (this.planning) this.out.line(`  # check: ${shellLine(argv)}`);
    const result = await this.host.exec(argv, options);
    if (options.mustSucceed && result.code !== 0) throw new StepFailed(this.nodeName, this.stepTitle, argv, result);
    return result;
  }

  /** A command that changes the node; a non-zero exit stops the node's run. */
  async run(argv: string[], options: ExecOptions = {}): Promise<CommandResult> {
    this.mayChange(shellLine(argv));
    this.changes.push(`run ${argv.join(' ')}`);
    if (this.planning) {
      this.out.line(`  $ ${shellLine(argv)}${options.input !== undefined ? ' (with input)' : ''}`);
      return { code: 0, stdout: '', stderr: '' };
    }
    const result = await this.host.exec(argv, options);
    // What the command printed goes to the log (kubeadm's own account of an init, say), never to the terminal.
    const printed = `${result.stdout}${result.stderr}`.replace(/\n$/, '');
    this.out.detail(`$ ${shellLine(argv)}: exit ${result.code}${printed ? `\n${printed.split('\n').map((l) => `  > ${l}`).join('\n')}` : ''}`);
    if (result.code !== 0) throw new StepFailed(this.nodeName, this.stepTitle, argv, result);
    return result;
  }

  read(file: string): Promise<string | undefined> {
    return this.host.read(file);
  }

  /**
   * Makes a file hold `content`. Nothing happens when it already does;
   * otherwise the previous content is kept as `<file>.bak-<time>` and the file
   * is replaced atomically. Returns whether the file changed.
   */
  async write(file: string, content: string, options: WriteOptions = {}): Promise<boolean> {
    const current = await this.host.read(file);
    const currentMode = await this.host.mode(file);
    const mode = options.mode ?? currentMode ?? 0o644;
    if (current === content && (currentMode === undefined || currentMode === mode)) return false;
    this.mayChange(`write ${file}`);
    // A file holding a secret is not copied: a backup would outlive the secret's use.
    const backup = current !== undefined && current !== content && !options.secret ? `${file}.bak-${compactTimestamp(this.now())}` : undefined;
    this.changes.push(`write ${file}`);
    if (this.planning) {
      const lines = (options.secret ? redact(content) : content).replace(/\n$/, '').split('\n');
      const header = `write ${file} (mode ${mode.toString(8).padStart(4, '0')}${backup ? `, previous content kept as ${file}.bak-<time>` : ''}`;
      if (this.out.brief) {
        this.out.line(`  --- ${header}, ${lines.length} line(s))`);
      } else {
        this.out.line(`  --- ${header})`);
        for (const line of lines) this.out.line(`  | ${line}`);
        this.out.line('  ---');
      }
    } else if (backup) {
      await this.host.write(backup, current!, currentMode ?? 0o600);
    }
    await this.host.write(file, content, mode);
    await this.afterWrite?.(file);
    return true;
  }

  /** Removes a file or folder if it exists; returns whether it did. */
  async remove(file: string): Promise<boolean> {
    if ((await this.host.mode(file)) === undefined) return false;
    this.mayChange(`remove ${file}`);
    this.changes.push(`remove ${file}`);
    if (this.planning) this.out.line(`  $ ${shellLine(['rm', '-rf', file])}`);
    await this.host.remove(file);
    return true;
  }

  /** Runs the steps in order; returns how many changed something. */
  async runSteps(script: string, steps: Step[]): Promise<number> {
    let changed = 0;
    for (const step of steps) {
      this.stepTitle = step.title;
      if (this.planning) this.out.line(`[${this.nodeName}] ${script} / ${step.title}`);
      const summary = await step.apply(this);
      if (summary !== undefined) changed++;
      if (!this.planning) this.out.line(`[${this.nodeName}] ${step.title}: ${summary ?? 'ok, nothing to change'}`);
    }
    if (!this.planning) {
      this.out.line(`[${this.nodeName}] ${script}: ${changed === 0 ? 'nothing changed, the node already was as configured' : `done, ${changed} step(s) changed something`}`);
    }
    return changed;
  }
}
