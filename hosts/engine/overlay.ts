/**
 * A real node seen through a plan (`--dry-run --connect`): every read and every read-only command goes to
 * the node; every write or removal stays here, in memory, so the plan's later steps see what the earlier
 * ones would have written while the node keeps its files. Commands that change a node never reach a host
 * in a plan (NodeRun.run only prints them), so exec here is only ever asked read-only checks.
 */
import type { CommandResult, ExecOptions, Host } from './host';

export class OverlayHost implements Host {
  /** Written content by path; undefined: removed. */
  private readonly files = new Map<string, { content: string; mode: number } | undefined>();

  constructor(private readonly node: Host) {}

  exec(argv: string[], options?: ExecOptions): Promise<CommandResult> {
    return this.node.exec(argv, options);
  }

  async read(file: string): Promise<string | undefined> {
    return this.files.has(file) ? this.files.get(file)?.content : this.node.read(file);
  }

  async write(file: string, content: string, mode: number): Promise<void> {
    this.files.set(file, { content, mode });
  }

  async mode(file: string): Promise<number | undefined> {
    return this.files.has(file) ? this.files.get(file)?.mode : this.node.mode(file);
  }

  async remove(file: string): Promise<void> {
    for (const known of this.files.keys()) if (known.startsWith(`${file}/`)) this.files.set(known, undefined);
    this.files.set(file, undefined);
  }

  async list(dir: string): Promise<string[]> {
    const names = new Set(this.files.get(dir) === undefined && this.files.has(dir) ? [] : await this.node.list(dir));
    for (const [file, entry] of this.files) {
      if (path(file) !== dir) continue;
      const name = file.slice(dir.length + 1);
      if (entry === undefined) names.delete(name);
      else names.add(name);
    }
    return [...names].sort();
  }
}

function path(file: string): string {
  return file.slice(0, file.lastIndexOf('/')) || '/';
}
