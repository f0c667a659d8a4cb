/** A time as a compact UTC stamp for file and folder names, e.g. 20260127T101500Z. */
export function compactTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}
