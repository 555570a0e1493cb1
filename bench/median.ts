// The middle value of a benchmark's samples (the upper middle for an even count), shared by the bench scripts.
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
