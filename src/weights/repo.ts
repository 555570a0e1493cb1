// Hugging Face repo ids, in every runtime: the short names of OpenAI's GPT-2 checkpoints and the
// owner/name form the hub uses.
export const DEFAULT_MODEL = 'openai-community/gpt2';

const SHORT_NAMES: Record<string, string> = {
  'gpt2': 'openai-community/gpt2', 'gpt2-medium': 'openai-community/gpt2-medium',
  'gpt2-large': 'openai-community/gpt2-large', 'gpt2-xl': 'openai-community/gpt2-xl',
};

/** 'gpt2' -> 'openai-community/gpt2'; 'owner/name' as is; anything else is not a hub id. */
export function normalizeRepoId(id: string): string | null {
  if (SHORT_NAMES[id]) return SHORT_NAMES[id];
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(id) && !id.includes('..') ? id : null;
}
