/**
 * How the node scripts reach a machine: run a command, read and write files.
 * Every step goes through this interface, so the same steps run on this
 * machine, in a sandbox root under test, and (through the bootstrap) over SSH.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { $ } from 'zx';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Text written to the command's standard input. */
  input?: string;
}

export interface Host {
  exec(argv: string[], options?: ExecOptions): Promise<CommandResult>;
  /** File content, or undefined when the file does not exist. */
  read(file: string): Promise<string | undefined>;
  /** Replaces the file atomically (temporary file + rename) with the given mode. */
  write(file: string, content: string, mode: number): Promise<void>;
  /** The file's permission bits, or undefined when it does not exist. */
  mode(file: string): Promise<number | undefined>;
  remove(file: string): Promise<void>;
  /** Names in a directory, or [] when it does not exist. */
  list(dir: string): Promise<string[]>;
}

/** Runs argv through zx (which quotes every argument), with the given environment. */
export async function spawnCommand(argv: string[], options: ExecOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  const result = await $({ nothrow: true, quiet: true, input: options.input ?? '', env: options.env ?? process.env })`${argv}`;
  return { code: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/**
 * This machine. `root` prefixes every file path (a sandbox under test, `/`
 * for real); `env` is the environment commands run with.
 */
export class LocalHost implements Host {
  constructor(readonly root: string = '/', private readonly env: NodeJS.ProcessEnv = process.env) {}

  private at(file: string): string {
    return path.join(this.root, file);
  }

  exec(argv: string[], options: ExecOptions = {}): Promise<CommandResult> {
    // Output is parsed: keep it in the C locale whatever the user's is.
    return spawnCommand(argv, { ...options, env: { ...this.env, LC_ALL: 'C' } });
  }

  async read(file: string): Promise<string | undefined> {
    try {
      return await fs.readFile(this.at(file), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async write(file: string, content: string, mode: number): Promise<void> {
    const target = this.at(file);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      const handle = await fs.open(temporary, 'w', mode);
      try {
        await handle.writeFile(content);
        await handle.chmod(mode);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temporary, target);
    } catch (error) {
      await fs.rm(temporary, { force: true });
      throw error;
    }
  }

  async mode(file: string): Promise<number | undefined> {
    try {
      return (await fs.stat(this.at(file))).mode & 0o7777;
    } catch {
      return undefined;
    }
  }

  async remove(file: string): Promise<void> {
    await fs.rm(this.at(file), { force: true, recursive: true });
  }

  async list(dir: string): Promise<string[]> {
    try {
      return (await fs.readdir(this.at(dir))).sort();
    } catch {
      return [];
    }
  }
}
