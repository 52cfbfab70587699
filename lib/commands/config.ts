/**
 * `chatsecure config --print`: the effective settings, one `key = value` line each in TOML (so
 * the output can seed a config file), with where each came from: the command line, the config
 * file and its line, the environment, or the default. lib/cli.ts computes them; this formats.
 */
import type { ConfigScope } from '../config';

export interface ConfigEntry {
  readonly key: string;
  /** undefined: not set, and no default. */
  readonly value: string | number | boolean | undefined;
  readonly source: string;
  readonly scope: ConfigScope;
}

export interface ConfigReport {
  /** The config file read, or undefined when there was none. */
  readonly file: string | undefined;
  readonly entries: readonly ConfigEntry[];
}

function tomlValue(v: string | number | boolean): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export function formatConfigReport(report: ConfigReport): string {
  const out = [`# config file: ${report.file ?? 'none'}`];
  const rows = report.entries.map((e) => {
    const key = e.key.startsWith('limits.') ? e.key.slice('limits.'.length) : e.key;
    const left = e.value === undefined ? `# ${key} (not set)` : `${key} = ${tomlValue(e.value)}`;
    return {
      left,
      right: `# ${e.source}; ${e.scope === 'both' ? 'relay and client' : e.scope}`,
      limit: key !== e.key,
    };
  });
  const width = Math.max(...rows.map((r) => r.left.length));
  let inLimits = false;
  for (const r of rows) {
    if (r.limit && !inLimits) {
      out.push('', '[limits]');
      inLimits = true;
    }
    out.push(`${r.left.padEnd(width)}  ${r.right}`);
  }
  return `${out.join('\n')}\n`;
}
