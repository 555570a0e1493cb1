// The CLI's download progress bar (the files themselves are found by weights/locate.ts).
/** A progress bar for downloads, drawn on stderr (never stdout, which carries the text). */
export function progressBar(
  stream: NodeJS.WriteStream = process.stderr,
): (file: string, done: number, total: number) => void {
  let last = 0,
    start = 0,
    current = '';
  return (file, done, total) => {
    const now = performance.now();
    if (file !== current) {
      current = file;
      start = now;
      last = 0;
    }
    if (done < total && now - last < 100) return;
    last = now;
    const frac = total ? done / total : 1;
    const width = 30,
      filled = Math.round(frac * width);
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const rate = done / Math.max(1e-3, (now - start) / 1000) / 1e6;
    const line = `${file} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(done)}/${mb(total)} MB ${rate.toFixed(1)} MB/s`;
    if (stream.isTTY) stream.write(`\r${line}${done >= total ? '\n' : ''}`);
    else if (done >= total || (now - start > 0 && Math.floor(frac * 10) !== Math.floor(((done - 1) / total) * 10)))
      stream.write(`${line}\n`);
  };
}
