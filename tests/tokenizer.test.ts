import { describe, it, expect } from 'vitest';
import { GPT2Tokenizer, END_OF_TEXT_ID } from '../src/tokenizer/gpt2.js';

const tok = new GPT2Tokenizer();

describe('GPT-2 BPE', () => {
  it('gives the published ids for the README prompt', () => {
    expect(tok.encode('How can entropy be reversed?')).toEqual([2437, 460, 40709, 307, 17687, 30]);
  });

  it('round-trips English, code, emoji and CJK', () => {
    for (const text of [
      'The quick brown fox jumps over the lazy dog.\n\nIt was the best of times.',
      'function add(a: number, b: number) {\n\treturn a + b; // sum\n}\n',
      'Emoji: 😀🎉👩‍👩‍👧‍👦 and flags 🇫🇷',
      '日本語のテキストと中文文本，한국어도。',
      '  leading spaces, trailing\t\r\n',
    ]) {
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
  });

  it('encodes <|endoftext|> as 50256 anywhere in the text', () => {
    const ids = tok.encode('hello<|endoftext|>world');
    expect(ids).toEqual([...tok.encode('hello'), END_OF_TEXT_ID, ...tok.encode('world')]);
    expect(tok.encode('<|endoftext|>')).toEqual([END_OF_TEXT_ID]);
    expect(tok.encode('a<|endoftext|><|endoftext|>b')).toEqual([64, END_OF_TEXT_ID, END_OF_TEXT_ID, 65]);
    expect(tok.decode(ids)).toBe('hello<|endoftext|>world');
  });

  it('a stream never splits a UTF-8 character', () => {
    const text = 'a😀b日本🎉';
    const ids = tok.encode(text);
    const d = tok.streamDecoder();
    const pieces = ids.map((id) => d.push(id));
    pieces.push(d.flush());
    expect(pieces.join('')).toBe(text);
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    // the emoji is two tokens: the first yields nothing, the second the whole character
    expect(tok.encode('😀').length).toBe(2);
  });

  it('keeps no state between calls or between stream decoders', () => {
    const [first] = tok.encode('😀'); // half of a character
    expect(tok.decode([first])).toBe('\uFFFD');
    expect(tok.decode(tok.encode('ok'))).toBe('ok'); // nothing left over from the call before
    const a = tok.streamDecoder(),
      b = tok.streamDecoder();
    expect(a.push(first)).toBe('');
    expect(b.push(tok.encode('x')[0])).toBe('x');
    expect(a.flush()).toBe('\uFFFD');
  });

  it('refuses ids outside the vocabulary', () => {
    expect(() => tok.decode([50257])).toThrow('token id 50257 is outside');
  });
});
