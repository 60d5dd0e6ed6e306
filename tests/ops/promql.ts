// The metric names a PromQL expression reads: what is left once strings, label matchers, ranges,
// grouping clauses, functions, keywords and numbers are taken out. A histogram's `_bucket`,
// `_sum` and `_count` series are named by their family.

const KEYWORDS = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "inf", "nan"]);

export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\()?)/g)) {
    if (m[1] === "(") continue; // a function call
    const word = m[0];
    if (KEYWORDS.has(word.toLowerCase())) continue;
    const before = bare[m.index! - 1];
    if (before !== undefined && /[0-9.]/.test(before)) continue; // 1e3, 0.5
    names.add(word);
  }
  return [...names];
}

/** A series name → the family a `# TYPE` line names (histograms' suffixes stripped when the family is a histogram). */
export function familyOf(name: string, types: ReadonlyMap<string, string>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix) && types.get(name.slice(0, -suffix.length)) === "histogram") return name.slice(0, -suffix.length);
  }
  return name;
}
