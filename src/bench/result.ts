/** What a benchmark returns: the options it ran with, one summary row per measured path and
 * the raw runs behind each row (for the JSON results file). */
export interface BenchResult<Options, Row, Raw, Key extends string = string> {
  options: Required<Omit<Options, 'log'>>;
  rows: Row[];
  raw: Record<Key, Raw[]>;
}
