// The demo page (www/) driven from Playwright, for the end-to-end suites: open it, chat,
// react, read its tracker's counters.

/** A page of the demo at `url` in `context` (its own localStorage per context), ready. */
export async function openDemo(context, url) {
  const page = await context.newPage();
  await page.goto(url);
  await page.evaluate(() => window.demo.ready);
  return page;
}

/** Sends `text`; returns the tracked event ids (prompt, response) and the answer's index. */
export async function chat(page, text) {
  const r = await page.evaluate((t) => window.demo.send(t), text);
  return { ids: [r.prompt.eventId, r.response.eventId], answer: r.response.index };
}

/** Reacts to the message at `index` with `value` ('positive', 'negative'); returns the event id. */
export async function react(page, index, value) {
  return (await page.evaluate(([i, v]) => window.demo.react(i, v), [index, value])).eventId;
}

/** The page's `stats()`: queued, sent, rejected, dropped, ... */
export async function pageCounts(page) {
  return page.evaluate(() => window.demo.stats());
}
