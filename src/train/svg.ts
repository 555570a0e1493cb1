// A loss-curve picture as a standalone SVG: train loss per iteration, and the evaluated train and
// val losses, with axes and a legend. Plain strings, so Node and the page both use it.
export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  dots?: boolean;
}

export function lineChartSvg(
  series: Series[],
  opts: {
    title: string;
    xLabel: string;
    yLabel: string;
    width?: number;
    height?: number;
    yMin?: number;
    yMax?: number;
    legend?: 'top-right' | 'bottom-right';
  },
): string {
  const W = opts.width ?? 720,
    H = opts.height ?? 420,
    L = 64,
    R = 20,
    Tm = 40,
    Bm = 50;
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xMax = Math.max(1, ...all.map(([x]) => x)),
    xMin = Math.min(0, ...all.map(([x]) => x));
  let yMin = opts.yMin ?? Math.min(...all.map(([, y]) => y)),
    yMax = opts.yMax ?? Math.max(...all.map(([, y]) => y));
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) {
    yMin = 0;
    yMax = 1;
  }
  if (yMax - yMin < 1e-9) {
    yMax += 0.5;
    yMin -= 0.5;
  }
  const px = (x: number) => L + ((x - xMin) / (xMax - xMin)) * (W - L - R);
  const py = (y: number) => Tm + (1 - (y - yMin) / (yMax - yMin)) * (H - Tm - Bm);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(opts.title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const y = yMin + ((yMax - yMin) * i) / 5;
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${py(y)}" y2="${py(y)}" stroke="#e5e5e5"/>`,
      `<text x="${L - 6}" y="${py(y) + 4}" text-anchor="end" fill="#555">${+y.toPrecision(3)}</text>`,
    );
  }
  // x ticks at round steps (1, 2 or 5 times a power of ten), about five of them
  const raw = (xMax - xMin) / 5,
    pow = 10 ** Math.floor(Math.log10(raw)),
    f = raw / pow;
  const xStep = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * pow;
  for (let x = Math.ceil(xMin / xStep) * xStep; x <= xMax + 1e-9; x += xStep) {
    parts.push(`<text x="${px(x)}" y="${H - Bm + 16}" text-anchor="middle" fill="#555">${+x.toPrecision(6)}</text>`);
  }
  parts.push(
    `<line x1="${L}" x2="${L}" y1="${Tm}" y2="${H - Bm}" stroke="#333"/>`,
    `<line x1="${L}" x2="${W - R}" y1="${H - Bm}" y2="${H - Bm}" stroke="#333"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
    `<text transform="translate(16 ${(Tm + H - Bm) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`,
  );
  series.forEach((s) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y));
    if (pts.length) {
      parts.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="${s.dots ? 2 : 1.2}" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`,
      );
      if (s.dots)
        for (const [x, y] of pts)
          parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
  });
  // the legend on a white box, so it stays readable over the curves
  // (bottom-right for curves that rise, such as accuracies)
  const boxH = series.length * 18 + 8,
    top = opts.legend === 'bottom-right' ? H - Bm - boxH - 6 : Tm;
  parts.push(
    `<rect x="${W - R - 158}" y="${top}" width="154" height="${boxH}" fill="white" fill-opacity="0.9" stroke="#ddd"/>`,
  );
  series.forEach((s, i) => {
    parts.push(
      `<rect x="${W - R - 150}" y="${top + 6 + i * 18}" width="12" height="3" fill="${s.color}"/>`,
      `<text x="${W - R - 132}" y="${top + 11 + i * 18}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
