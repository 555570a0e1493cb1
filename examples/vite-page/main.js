import { GPT2 } from 'wasm-gpt';

const out = document.querySelector('#out');
const model = new URLSearchParams(location.search).get('model') ?? 'openai-community/gpt2';
const gpt2 = await GPT2.load(model, { onProgress: (p) => (out.textContent = `${p.file}: ${p.loaded} bytes`) });
out.textContent = '';
for await (const piece of gpt2.stream('How can entropy be reversed?', { maxTokens: 50 })) out.textContent += piece;
gpt2.dispose();
document.body.dataset.done = 'true';
