// The demo page: a thin UI over the engine worker (worker.ts). Everything heavy runs there; this
// file sends requests, shows progress, streams text, draws the loss chart and the attention maps.
import { lineChartSvg, type Series } from '../src/train/svg.js';
import type { AttentionResult, DTypeChoice, EngineInfo, ModelInfo, Request, WorkerEvent } from './protocol.js';
import { drawGrid, drawHead } from './attention-view.js';

type Pending = { resolve(v: unknown): void; reject(e: Error): void; onEvent?: (e: WorkerEvent) => void };

/** Requests to the worker as promises; its events for a request go to that request's callback. */
class Engine {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor() {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e: MessageEvent<WorkerEvent>) => {
      const m = e.data,
        p = this.pending.get(m.id);
      if (!p) return;
      if (m.event === 'done') {
        this.pending.delete(m.id);
        p.resolve(m.result);
      } else if (m.event === 'error') {
        this.pending.delete(m.id);
        const err = new Error(m.message);
        err.name = m.name;
        p.reject(err);
      } else p.onEvent?.(m);
    };
    this.worker.onerror = (e) => {
      const err = new Error(`the engine worker failed: ${e.message || 'it could not start'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      showError(err.message);
    };
  }

  call<T>(req: Request, onEvent?: (e: WorkerEvent) => void): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onEvent });
      this.worker.postMessage({ id, ...req });
    });
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const num = (id: string) => Number(input(id).value);

const engine = new Engine();
const state: {
  engine: EngineInfo | null;
  model: ModelInfo | null;
  busy: string | null;
  trainLog: { steps: [number, number][]; evals: { iter: number; train: number; val: number }[] };
} = { engine: null, model: null, busy: null, trainLog: { steps: [], evals: [] } };

function showError(message: string | null): void {
  const box = $('error');
  box.hidden = !message;
  box.textContent = message ?? '';
}

function formatBytes(n: number): string {
  return n >= 1e9
    ? `${(n / 1e9).toFixed(2)} GB`
    : n >= 1e6
      ? `${(n / 1e6).toFixed(1)} MB`
      : `${(n / 1e3).toFixed(1)} kB`;
}

function setBusy(what: string | null): void {
  state.busy = what;
  document.body.dataset.busy = what ?? '';
  const loaded = !!state.model;
  for (const id of ['load-url', 'generate', 'train', 'show-attention', 'clear-cache'])
    ($(id) as HTMLButtonElement).disabled = !!what;
  ($('model-files') as HTMLInputElement).disabled = !!what;
  ($('stop-generate') as HTMLButtonElement).disabled = what !== 'generating';
  ($('stop-train') as HTMLButtonElement).disabled = what !== 'training';
  ($('save') as HTMLButtonElement).disabled = !!what || !loaded;
  $('cancel-load').hidden = what !== 'loading';
}

// ---- the model -------------------------------------------------------------------------------

function modelLoaded(info: ModelInfo): void {
  state.model = info;
  const c = info.config;
  $('model-badge').textContent =
    `${info.parameters.toLocaleString('en-US')} parameters · ${c.n_layer} layers · ${c.n_head} heads · ${c.n_embd} wide · ` +
    `${info.dtype} weights, ${formatBytes(info.memoryBytes)} to run`;
  $('model-badge').classList.remove('muted');
  const tok = `tokenizer ${info.tokenizer === 'gpt2' ? 'GPT-2 BPE' : 'characters'}`;
  $('model-status').textContent = info.bytes
    ? `Loaded ${info.name}: ${formatBytes(info.bytes)} ${info.fromCache ? 'from the browser cache' : 'downloaded'} · ${info.loadSeconds.toFixed(2)} s · ${tok}` +
      (info.cacheError ? ` · not kept in the browser cache (${info.cacheError}), so the next load downloads again` : '')
    : `Using the model ${info.name} · ${tok}`;
  const layer = $<HTMLSelectElement>('att-layer'),
    head = $<HTMLSelectElement>('att-head');
  layer.innerHTML = Array.from({ length: c.n_layer }, (_, i) => `<option value="${i}">${i}</option>`).join('');
  head.innerHTML = Array.from({ length: c.n_head }, (_, i) => `<option value="${i}">${i}</option>`).join('');
}

function progress(e: Extract<WorkerEvent, { event: 'progress' }> | null): void {
  const box = $('progress');
  box.hidden = !e;
  if (!e) return;
  const frac = e.total ? e.loaded / e.total : 0;
  (box.querySelector('.bar') as HTMLElement).style.width = `${(frac * 100).toFixed(1)}%`;
  (box.querySelector('.label') as HTMLElement).textContent =
    `${e.file}: ${formatBytes(e.loaded)}${e.total ? ` of ${formatBytes(e.total)}` : ''}${e.fromCache ? ' (browser cache)' : ''}`;
}

async function load(req: Request): Promise<void> {
  showError(null);
  setBusy('loading');
  try {
    const info = await engine.call<ModelInfo>(req, (e) => {
      if (e.event === 'progress') progress(e);
      // before the download: what the model will take
      if (e.event === 'plan')
        $('model-status').textContent =
          `Loading ${(e.parameters / 1e6).toFixed(0)} M parameters as ${e.dtype}: ` +
          `${formatBytes(e.memoryBytes)} of memory to run`;
    });
    modelLoaded(info);
  } catch (e) {
    const err = e as Error;
    const still = state.model ? ` The page still uses ${state.model.name}.` : '';
    showError(
      err.name === 'AbortError'
        ? `Download cancelled; nothing was kept.${still}`
        : `Could not load the model: ${err.message.replace(/[.\s]*$/, '.')}${still}`,
    );
  } finally {
    progress(null);
    setBusy(null);
  }
}

const dtypeChoice = () => $<HTMLSelectElement>('dtype').value as DTypeChoice;
$('load-url').onclick = () => load({ cmd: 'load-url', url: input('model-url').value, dtype: dtypeChoice() });
input('model-files').onchange = () => {
  const files = [...(input('model-files').files ?? [])];
  input('model-files').value = '';
  if (files.length) load({ cmd: 'load-files', files, dtype: dtypeChoice() });
};
$('cancel-load').onclick = () => engine.call({ cmd: 'stop' });
$('clear-cache').onclick = async () => {
  await engine.call({ cmd: 'clear-cache' });
  $('model-status').textContent = 'The browser cache of downloaded weights is empty.';
};

// ---- generate --------------------------------------------------------------------------------

$('generate').onclick = async () => {
  if (!state.model) return showError('Load a model first (or train one in the Train tab).');
  showError(null);
  const prompt = $<HTMLTextAreaElement>('prompt').value;
  const out = $('output');
  (out.querySelector('.prompt-echo') as HTMLElement).textContent = prompt;
  const gen = out.querySelector('.generated') as HTMLElement;
  gen.textContent = '';
  const seedText = input('seed').value.trim();
  setBusy('generating');
  $('gen-stats').textContent = 'reading the prompt…';
  try {
    const stats = await engine.call<{
      promptTokens: number;
      generatedTokens: number;
      prefillSeconds: number;
      decodeSeconds: number;
      stoppedBy: string;
      slides: number;
    }>(
      {
        cmd: 'generate',
        prompt,
        maxTokens: num('max-tokens'),
        temperature: num('temperature'),
        topK: num('top-k'),
        topP: num('top-p'),
        seed: seedText === '' ? null : Number(seedText),
      },
      (e) => {
        if (e.event === 'token') gen.textContent += e.text;
        else if (e.event === 'prefill')
          $('gen-stats').textContent = `prompt: ${e.tokens} tokens in ${e.seconds.toFixed(2)} s; generating…`;
      },
    );
    const decode =
      stats.generatedTokens > 1 && stats.decodeSeconds > 0
        ? `${(stats.generatedTokens / stats.decodeSeconds).toFixed(1)} tok/s`
        : '–';
    $('gen-stats').textContent =
      `${stats.promptTokens} prompt tokens · prefill ${(stats.promptTokens / stats.prefillSeconds).toFixed(1)} tok/s · ` +
      `${stats.generatedTokens} tokens at ${decode} · ${stats.stoppedBy === 'interrupted' ? 'stopped' : stats.stoppedBy === 'stop-token' ? 'ended at <|endoftext|>' : 'max tokens reached'}` +
      `${stats.slides ? ` · context slid ${stats.slides}×` : ''} · ${state.engine?.threads ?? 1} thread(s) · ${state.model?.dtype ?? 'f32'} weights`;
    document.body.dataset.generated = String(stats.generatedTokens);
  } catch (e) {
    showError((e as Error).message);
    $('gen-stats').textContent = '';
  } finally {
    setBusy(null);
  }
};
$('stop-generate').onclick = () => engine.call({ cmd: 'stop' });

// ---- train -----------------------------------------------------------------------------------

let trainSource = 'pasted text';
$<HTMLTextAreaElement>('train-text').oninput = () => {
  trainSource = 'pasted text';
  textInfo();
};
function textInfo(): void {
  const t = $<HTMLTextAreaElement>('train-text').value;
  $('train-text-info').textContent = t
    ? `${t.length.toLocaleString('en-US')} characters, ${new Set(t).size} distinct (${trainSource})`
    : '';
}

$('use-shakespeare').onclick = async () => {
  showError(null);
  const sources = [
    '../data/tinyshakespeare.txt',
    'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt',
  ];
  for (const url of sources) {
    try {
      const res = await fetch(new URL(url, location.href));
      if (!res.ok) continue;
      $<HTMLTextAreaElement>('train-text').value = await res.text();
      trainSource = 'Tiny Shakespeare';
      textInfo();
      return;
    } catch {
      /* next source */
    }
  }
  showError('Could not fetch Tiny Shakespeare (no local copy and no network); paste a text instead.');
};

function drawChart(): void {
  const { steps, evals } = state.trainLog;
  const series: Series[] = [
    { name: 'train loss (batch)', color: '#9fb3f0', points: steps },
    { name: 'train loss (eval)', color: '#3358d4', points: evals.map((e) => [e.iter, e.train]), dots: true },
    { name: 'val loss (eval)', color: '#d4590f', points: evals.map((e) => [e.iter, e.val]), dots: true },
  ];
  $('chart').innerHTML = lineChartSvg(series, {
    title: 'Loss',
    xLabel: 'step',
    yLabel: 'cross-entropy (nats)',
    width: 640,
    height: 380,
  });
}

$('train').onclick = async () => {
  const text = $<HTMLTextAreaElement>('train-text').value;
  if (!text) return showError('Paste a text to train on, or click "Use Tiny Shakespeare".');
  showError(null);
  state.trainLog = { steps: [], evals: [] };
  drawChart();
  setBusy('training');
  let pending = false;
  const redraw = () => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        drawChart();
      });
    }
  };
  let tokPerSec = 0;
  try {
    const r = await engine.call<{
      iters: number;
      train: number;
      val: number;
      tokPerSec: number;
      stopped: boolean;
      info: ModelInfo;
    }>(
      {
        cmd: 'train',
        text,
        source: trainSource,
        nLayer: num('n-layer'),
        nHead: num('n-head'),
        nEmbd: num('n-embd'),
        blockSize: num('block-size'),
        batchSize: num('batch-size'),
        maxIters: num('max-iters'),
        lr: num('lr'),
        evalInterval: num('eval-interval'),
        evalIters: 10,
        seed: 1337,
      },
      (e) => {
        if (e.event === 'step') {
          state.trainLog.steps.push([e.iter, e.loss]);
          tokPerSec = e.tokPerSec;
          $('train-status').textContent =
            `step ${e.iter} / ${num('max-iters')} · loss ${e.loss.toFixed(4)} · lr ${e.lr.toExponential(2)} · ${Math.round(e.tokPerSec).toLocaleString('en-US')} tok/s`;
          redraw();
        } else if (e.event === 'eval') {
          state.trainLog.evals.push({ iter: e.iter, train: e.train, val: e.val });
          redraw();
        } else if (e.event === 'sample') {
          $('train-sample').textContent = `step ${e.iter}:\n${e.text}`;
        }
      },
    );
    modelLoaded(r.info);
    $('train-status').textContent =
      `${r.stopped ? 'Stopped' : 'Done'} after ${r.iters} steps: train loss ${r.train.toFixed(4)}, val loss ${r.val.toFixed(4)} · ` +
      `${Math.round(r.tokPerSec || tokPerSec).toLocaleString('en-US')} tok/s. The trained model is now the page's model: generate from it or save it.`;
    drawChart();
  } catch (e) {
    showError(`Training failed: ${(e as Error).message}`);
  } finally {
    setBusy(null);
  }
};
$('stop-train').onclick = () => engine.call({ cmd: 'stop' });

$('save').onclick = async () => {
  try {
    const { bytes, name } = await engine.call<{ bytes: Uint8Array; name: string }>({ cmd: 'save' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (e) {
    showError(`Could not save: ${(e as Error).message}`);
  }
};

// ---- attention -------------------------------------------------------------------------------

let lastAttention: AttentionResult | null = null;

async function showAttention(): Promise<void> {
  if (!state.model) return showError('Load a model first (or train one in the Train tab).');
  showError(null);
  try {
    const layer = Number($<HTMLSelectElement>('att-layer').value || 0);
    const a = await engine.call<AttentionResult>({ cmd: 'attention', text: input('att-text').value, layer });
    lastAttention = a;
    drawGrid(a);
    drawHead(a, Number($<HTMLSelectElement>('att-head').value || 0));
    document.body.dataset.attention = `${a.layer}:${a.T}`;
  } catch (e) {
    showError(`Attention: ${(e as Error).message}`);
  }
}
$('show-attention').onclick = showAttention;
$<HTMLSelectElement>('att-layer').onchange = () => {
  if (lastAttention) showAttention();
};
$<HTMLSelectElement>('att-head').onchange = () => {
  if (lastAttention) drawHead(lastAttention, Number($<HTMLSelectElement>('att-head').value));
};

// ---- tabs and start --------------------------------------------------------------------------

for (const b of document.querySelectorAll<HTMLButtonElement>('.tabs button')) {
  b.onclick = () => {
    for (const o of document.querySelectorAll<HTMLButtonElement>('.tabs button')) {
      o.setAttribute('aria-selected', String(o === b));
      $(`tab-${o.dataset.tab}`).hidden = o !== b;
    }
  };
}

async function start(): Promise<void> {
  setBusy('starting');
  const params = new URLSearchParams(location.search);
  const threads = params.get('threads');
  try {
    const info = await engine.call<EngineInfo>({ cmd: 'init', threads: threads ? Number(threads) : undefined });
    state.engine = info;
    const badge = $('engine-badge');
    badge.textContent =
      `${info.threads} thread${info.threads > 1 ? 's' : ''}${info.isolated ? '' : ' (page not cross-origin isolated)'} · ` +
      `${info.simd === 'relaxed' ? 'relaxed SIMD (FMA)' : 'SIMD'}`;
    badge.classList.toggle('warn', !info.isolated && info.cores > 1);
    document.body.dataset.threads = String(info.threads);
  } catch (e) {
    showError(`The engine could not start: ${(e as Error).message}`);
    return;
  } finally {
    setBusy(null);
  }
  drawChart();
  const model = params.get('model');
  if (model) {
    input('model-url').value = model;
    await load({ cmd: 'load-url', url: model, dtype: (params.get('dtype') as DTypeChoice | null) ?? dtypeChoice() });
  }
}

// for scripts and tests: the engine's requests, and what the page knows
(window as unknown as { wasmGpt: unknown }).wasmGpt = { call: (r: Request) => engine.call(r), state, ready: start() };
