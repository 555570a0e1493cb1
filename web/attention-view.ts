// The attention tab's pictures: one head's attention over a sentence's tokens as a heatmap, and
// every head of the layer as small thumbnails (click one to see it large).
import type { AttentionResult } from './protocol.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function shade(v: number): [number, number, number] {
  const t = Math.sqrt(Math.min(1, Math.max(0, v))); // sqrt: small weights stay visible
  return [Math.round(255 - t * (255 - 31)), Math.round(255 - t * (255 - 58)), Math.round(255 - t * (255 - 160))];
}

function headMatrix(a: AttentionResult, h: number): Float32Array {
  return a.att.subarray(h * a.T * a.T, (h + 1) * a.T * a.T);
}

const label = (s: string) => s.replace(/\n/g, '⏎').replace(/ /g, '·');

export function drawHead(a: AttentionResult, h: number): void {
  const canvas = $<HTMLCanvasElement>('att-canvas');
  const dpr = window.devicePixelRatio || 1,
    size = 560;
  canvas.width = size * dpr;
  canvas.height = size * dpr;
  canvas.style.width = `${size}px`;
  canvas.style.height = `${size}px`;
  const g = canvas.getContext('2d')!;
  g.scale(dpr, dpr);
  g.fillStyle = '#fff';
  g.fillRect(0, 0, size, size);
  const margin = 96,
    cell = (size - margin - 8) / a.T,
    m = headMatrix(a, h);
  for (let i = 0; i < a.T; i++) {
    for (let j = 0; j < a.T; j++) {
      const [r, gr, b] = shade(m[i * a.T + j]);
      g.fillStyle = `rgb(${r},${gr},${b})`;
      g.fillRect(margin + j * cell, margin + i * cell, Math.ceil(cell), Math.ceil(cell));
    }
  }
  g.fillStyle = '#374151';
  g.font = `${Math.max(8, Math.min(13, cell * 0.8))}px system-ui, sans-serif`;
  g.textBaseline = 'middle';
  a.tokens.forEach((t, i) => {
    g.textAlign = 'right';
    g.fillText(label(t).slice(0, 12), margin - 6, margin + (i + 0.5) * cell);
    g.save();
    g.translate(margin + (i + 0.5) * cell, margin - 6);
    g.rotate(-Math.PI / 2);
    g.textAlign = 'left';
    g.fillText(label(t).slice(0, 12), 0, 0);
    g.restore();
  });
  $('att-title').textContent = `Layer ${a.layer}, head ${h}`;
  document.querySelectorAll('#att-grid figure').forEach((f, i) => f.classList.toggle('selected', i === h));
}

export function drawGrid(a: AttentionResult): void {
  const grid = $('att-grid');
  grid.innerHTML = '';
  for (let h = 0; h < a.nHead; h++) {
    const fig = document.createElement('figure');
    const c = document.createElement('canvas');
    c.width = a.T;
    c.height = a.T;
    const g = c.getContext('2d')!,
      img = g.createImageData(a.T, a.T),
      m = headMatrix(a, h);
    for (let k = 0; k < a.T * a.T; k++) {
      const [r, gr, b] = shade(m[k]);
      img.data.set([r, gr, b, 255], k * 4);
    }
    g.putImageData(img, 0, 0);
    const cap = document.createElement('figcaption');
    cap.textContent = `head ${h}`;
    fig.append(c, cap);
    fig.onclick = () => {
      $<HTMLSelectElement>('att-head').value = String(h);
      drawHead(a, h);
    };
    grid.append(fig);
  }
}
