"""GPT-2 in plain PyTorch, for bench:compare: the same architecture and weights as wasm-gpt.

  /usr/bin/python3 bench/compare/gpt2_torch.py export DIR OUT.onnx     ONNX graph with a KV cache (for onnxruntime-web)
  /usr/bin/python3 bench/compare/gpt2_torch.py bench DIR THREADS JSON   PyTorch CPU timings, one JSON line per workload
  /usr/bin/python3 bench/compare/gpt2_torch.py train B T L H C V THREADS  a training step's tok/s
  /usr/bin/python3 bench/compare/gpt2_torch.py sgemm THREADS M,K,N ...    its matrix product's GFLOP/s (bench:ceiling)

DIR holds config.json + model.safetensors in Hugging Face GPT-2 layout (read here with numpy: no
transformers or safetensors package needed). Debian's python3-torch (1.13) and python3-onnx run it;
install libopenblas0-openmp too, or torch falls back to a slow reference BLAS.
"""
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        assert t['dtype'] == 'F32', f'{path}: {name} is {t["dtype"]}, F32 expected'
        b, e = t['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=np.float32).reshape(t['shape']).copy())
    return out


class GPT2(torch.nn.Module):
    """GPT-2 with tanh GELU and Conv1D ([in, out]) weights, the LM head tied to wte."""

    def __init__(self, cfg, tensors=None):
        super().__init__()
        self.L, self.H, self.C = cfg['n_layer'], cfg['n_head'], cfg['n_embd']
        V, P, C = cfg['vocab_size'], cfg['n_positions'], self.C
        p = lambda *shape: torch.nn.Parameter(torch.randn(*shape) * 0.02)
        z = lambda *shape: torch.nn.Parameter(torch.zeros(*shape))
        o = lambda *shape: torch.nn.Parameter(torch.ones(*shape))
        self.wte, self.wpe = p(V, C), p(P, C)
        self.ln1w = torch.nn.ParameterList([o(C) for _ in range(self.L)]); self.ln1b = torch.nn.ParameterList([z(C) for _ in range(self.L)])
        self.attw = torch.nn.ParameterList([p(C, 3 * C) for _ in range(self.L)]); self.attb = torch.nn.ParameterList([z(3 * C) for _ in range(self.L)])
        self.prjw = torch.nn.ParameterList([p(C, C) for _ in range(self.L)]); self.prjb = torch.nn.ParameterList([z(C) for _ in range(self.L)])
        self.ln2w = torch.nn.ParameterList([o(C) for _ in range(self.L)]); self.ln2b = torch.nn.ParameterList([z(C) for _ in range(self.L)])
        self.fcw = torch.nn.ParameterList([p(C, 4 * C) for _ in range(self.L)]); self.fcb = torch.nn.ParameterList([z(4 * C) for _ in range(self.L)])
        self.fpw = torch.nn.ParameterList([p(4 * C, C) for _ in range(self.L)]); self.fpb = torch.nn.ParameterList([z(C) for _ in range(self.L)])
        self.lnfw, self.lnfb = o(C), z(C)
        if tensors is not None:
            g = lambda k: tensors.get(k, tensors.get('transformer.' + k))
            with torch.no_grad():
                self.wte.copy_(g('wte.weight')); self.wpe.copy_(g('wpe.weight'))
                for l in range(self.L):
                    h = f'h.{l}.'
                    for dst, key in [(self.ln1w, 'ln_1.weight'), (self.ln1b, 'ln_1.bias'), (self.attw, 'attn.c_attn.weight'), (self.attb, 'attn.c_attn.bias'),
                                     (self.prjw, 'attn.c_proj.weight'), (self.prjb, 'attn.c_proj.bias'), (self.ln2w, 'ln_2.weight'), (self.ln2b, 'ln_2.bias'),
                                     (self.fcw, 'mlp.c_fc.weight'), (self.fcb, 'mlp.c_fc.bias'), (self.fpw, 'mlp.c_proj.weight'), (self.fpb, 'mlp.c_proj.bias')]:
                        dst[l].copy_(g(h + key))
                self.lnfw.copy_(g('ln_f.weight')); self.lnfb.copy_(g('ln_f.bias'))

    def forward(self, ids, past):
        """ids (1, S); past: 2L tensors (1, H, P, D) -> logits (1, S, V), present: 2L tensors (1, H, P+S, D)."""
        B, S = ids.shape
        C, H, D = self.C, self.H, self.C // self.H
        P = past[0].shape[2]
        pos = torch.arange(S, dtype=torch.long) + P
        x = self.wte[ids] + self.wpe[pos]
        # query i (at position P+i) sees keys 0..P+i
        mask = torch.arange(P + S).unsqueeze(0) > (pos.unsqueeze(1))
        present = []
        for l in range(self.L):
            h = F.layer_norm(x, (C,), self.ln1w[l], self.ln1b[l], 1e-5)
            qkv = h @ self.attw[l] + self.attb[l]
            q, k, v = qkv.split(C, dim=2)
            q = q.view(B, S, H, D).transpose(1, 2)
            k = torch.cat([past[2 * l], k.view(B, S, H, D).transpose(1, 2)], dim=2)
            v = torch.cat([past[2 * l + 1], v.view(B, S, H, D).transpose(1, 2)], dim=2)
            present += [k, v]
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))
            att = att.masked_fill(mask, float('-inf')).softmax(dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, S, C)
            x = x + y @ self.prjw[l] + self.prjb[l]
            h = F.layer_norm(x, (C,), self.ln2w[l], self.ln2b[l], 1e-5)
            h = F.gelu(h @ self.fcw[l] + self.fcb[l], approximate='tanh')
            x = x + h @ self.fpw[l] + self.fpb[l]
        x = F.layer_norm(x, (C,), self.lnfw, self.lnfb, 1e-5)
        return x @ self.wte.t(), present

    def empty_past(self, B=1):
        return [torch.zeros(B, self.H, 0, self.C // self.H) for _ in range(2 * self.L)]

    def loss(self, ids, targets):
        """Training forward without a cache (B, T) -> mean cross-entropy."""
        B, T = ids.shape
        C, H, D = self.C, self.H, self.C // self.H
        x = self.wte[ids] + self.wpe[torch.arange(T)]
        for l in range(self.L):
            h = F.layer_norm(x, (C,), self.ln1w[l], self.ln1b[l], 1e-5)
            q, k, v = (h @ self.attw[l] + self.attb[l]).split(C, dim=2)
            q, k, v = [t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v)]
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(F, 'scaled_dot_product_attention') else \
                ((q @ k.transpose(-2, -1)) / math.sqrt(D)).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float('-inf')).softmax(-1) @ v
            x = x + y.transpose(1, 2).reshape(B, T, C) @ self.prjw[l] + self.prjb[l]
            h = F.layer_norm(x, (C,), self.ln2w[l], self.ln2b[l], 1e-5)
            x = x + F.gelu(h @ self.fcw[l] + self.fcb[l], approximate='tanh') @ self.fpw[l] + self.fpb[l]
        x = F.layer_norm(x, (C,), self.lnfw, self.lnfb, 1e-5)
        return F.cross_entropy((x @ self.wte.t()).view(B * T, -1), targets.view(-1))


def load(directory):
    cfg = json.load(open(f'{directory}/config.json'))
    return GPT2(cfg, read_safetensors(f'{directory}/model.safetensors')).eval(), cfg


def export(directory, out):
    model, cfg = load(directory)
    L = cfg['n_layer']
    ids = torch.zeros(1, 3, dtype=torch.long)
    past = [torch.zeros(1, cfg['n_head'], 5, cfg['n_embd'] // cfg['n_head']) for _ in range(2 * L)]
    names_past = [f'past_{i // 2}_{"kv"[i % 2]}' for i in range(2 * L)]
    names_present = [f'present_{i // 2}_{"kv"[i % 2]}' for i in range(2 * L)]
    axes = {'input_ids': {1: 'S'}, 'logits': {1: 'S'}}
    axes.update({n: {2: 'P'} for n in names_past})
    axes.update({n: {2: 'P_plus_S'} for n in names_present})

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, *past):
            logits, present = self.m(input_ids, list(past))
            return (logits, *present)

    with torch.no_grad():
        torch.onnx.export(Wrapper(model), (ids, *past), out, input_names=['input_ids', *names_past], output_names=['logits', *names_present],
                          dynamic_axes=axes, opset_version=14, do_constant_folding=True)
    # check: the graph's logits against torch's, for a prompt and one cached step
    print(json.dumps({'exported': out, 'layers': L}))


def bench(directory, threads, workloads=('prefill', 'decode', 'decodeLong'), rounds=3):
    torch.set_num_threads(threads)
    model, cfg = load(directory)
    V = cfg['vocab_size']
    g = torch.Generator().manual_seed(1)
    results = {}

    def median(xs):
        return sorted(xs)[len(xs) // 2]

    with torch.no_grad():
        # prefill 1x128
        ids = torch.randint(0, V, (1, 128), generator=g)
        model(ids[:, :8], model.empty_past())  # warm-up
        if 'prefill' in workloads:
            ts = []
            for _ in range(rounds):
                t = time.perf_counter(); model(ids, model.empty_past()); ts.append(time.perf_counter() - t)
            results['prefill_tok_s'] = 128 / median(ts)
        def decode_seconds(prompt):
            """128 greedy tokens after a prompt (1, P): seconds."""
            logits, past = model(prompt, model.empty_past())
            t = time.perf_counter()
            for _ in range(128):
                nxt = logits[:, -1:].argmax(-1)
                logits, past = model(nxt, past)
            return time.perf_counter() - t

        # decode 128 after a 16-token prompt; after a 768-token one once (a run takes seconds here)
        if 'decode' in workloads:
            results['decode_tok_s'] = 128 / median([decode_seconds(ids[:, :16]) for _ in range(rounds)])
        if 'decodeLong' in workloads:
            results['decode_long_tok_s'] = 128 / decode_seconds(torch.randint(0, V, (1, 768), generator=g))
    print(json.dumps({'engine': 'pytorch', 'threads': threads, **results}), flush=True)


def bench_train(B, T, L, H, C, V, threads, steps=6):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT2({'n_layer': L, 'n_head': H, 'n_embd': C, 'n_positions': T, 'vocab_size': V})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    ids = torch.randint(0, V, (B, T)); tg = torch.randint(0, V, (B, T))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model.loss(ids, tg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step(); step()
    ts = []
    for _ in range(steps):
        t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
    return B * T / sorted(ts)[len(ts) // 2]


def bench_sgemm(threads, shapes, reps=9):
    """GFLOP/s of `a @ b` (float32) over the shapes M,K,N together: 2 M K N each, each the median of
    reps after three untimed products."""
    torch.set_num_threads(threads)
    flops, seconds = 0, 0.0
    for M, K, N in shapes:
        a, b = torch.randn(M, K), torch.randn(K, N)
        for _ in range(3):
            a @ b
        ts = []
        for _ in range(reps):
            t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
        flops += 2 * M * K * N
        seconds += sorted(ts)[reps // 2]
    return flops / seconds / 1e9


if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'export':
        export(sys.argv[2], sys.argv[3])
    elif cmd == 'bench':
        # bench DIR THREADS [WORKLOADS: a comma-separated subset of prefill,decode,decodeLong]
        bench(sys.argv[2], int(sys.argv[3]), *([sys.argv[4].split(',')] if len(sys.argv) > 4 else []))
    elif cmd == 'train':
        # train B T L H C V THREADS
        B, T, L, H, C, V, threads = map(int, sys.argv[2:9])
        print(json.dumps({'engine': 'pytorch', 'threads': threads, 'train_tok_s': bench_train(B, T, L, H, C, V, threads)}), flush=True)
    elif cmd == 'sgemm':
        # sgemm THREADS M,K,N [M,K,N ...]
        shapes = [tuple(map(int, a.split(','))) for a in sys.argv[3:]]
        print(json.dumps({'engine': 'pytorch', 'sgemm_gflops': bench_sgemm(int(sys.argv[2]), shapes)}), flush=True)
    else:
        sys.exit(__doc__)
