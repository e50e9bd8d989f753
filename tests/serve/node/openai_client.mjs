// The official `openai` npm client against apr's server: list models, completions, chat,
// streaming with usage, and the client's typed errors for 400 and 401.
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const port = process.argv[2];
const baseURL = `http://127.0.0.1:${port}/v1`;
const client = new OpenAI({ baseURL, apiKey: 'test-key', maxRetries: 0 });

const models = await client.models.list();
assert.equal(models.data[0].id, 'tiny');

const c = await client.completions.create({ model: 'tiny', prompt: 'Hello', max_tokens: 5, seed: 1 });
assert.equal(c.object, 'text_completion');
assert.equal(c.usage.completion_tokens, 5);
assert.equal(c.choices[0].finish_reason, 'length');

const chat = await client.chat.completions.create({
  model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, seed: 2,
});
assert.equal(chat.choices[0].message.role, 'assistant');
assert.equal(chat.usage.completion_tokens, 4);

const stream = await client.chat.completions.create({
  model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, seed: 2,
  stream: true, stream_options: { include_usage: true },
});
let text = '';
let usage = null;
let finish = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  if (chunk.choices.length > 0) {
    text += chunk.choices[0].delta.content ?? '';
    finish = chunk.choices[0].finish_reason ?? finish;
  }
}
assert.equal(text, chat.choices[0].message.content);
assert.equal(finish, 'length');
assert.equal(usage.completion_tokens, 4);

await assert.rejects(
  client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], temperature: 50 }),
  (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'temperature');
const wrong = new OpenAI({ baseURL, apiKey: 'nope', maxRetries: 0 });
await assert.rejects(wrong.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
console.log('openai client test passed');
