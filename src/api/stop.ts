// Stop strings over streamed text: what may be shown now, and whether a stop string has appeared.
// Text that could be the start of a stop string is held back until the next piece settles it.
export class StopMatcher {
  private readonly stops: string[];
  private held = '';
  private ended = false;

  constructor(stop: string | string[] | undefined) {
    this.stops = (stop === undefined ? [] : Array.isArray(stop) ? stop : [stop]).filter((s) => {
      if (typeof s !== 'string')
        throw new TypeError(`stop must be a string or an array of strings, got ${JSON.stringify(s)}`);
      return s.length > 0;
    });
  }

  /** Add a piece; `last` says no more will come (everything held is shown). */
  push(piece: string, last = false): { text: string; done: boolean } {
    if (this.ended) return { text: '', done: true };
    const buf = this.held + piece;
    let cut = -1;
    for (const s of this.stops) {
      const at = buf.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.ended = true;
      this.held = '';
      return { text: buf.slice(0, cut), done: true };
    }
    const keep = last ? 0 : this.heldBack(buf);
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), done: false };
  }

  /** The length of the longest end of buf that begins some stop string. */
  private heldBack(buf: string): number {
    let keep = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, buf.length); n > keep; n--) {
        if (buf.endsWith(s.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    return keep;
  }
}
