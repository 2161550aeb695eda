// The seed's editor flow in a real browser, through the playground page: edit → the preview changes; stop typing → it
// expires; type again → it wakes with the latest files. Run by PlaygroundBrowserTests with:
//   MIDORI_CHROMIUM (Debian's chromium), PLAYGROUND_URL (/ui#token=…), PREVIEW_NAME, ARTIFACTS (screenshot folder),
//   WAIT_MS (bound of each wait). Exits non-zero with the reason on the first step that does not happen in time.
import { chromium } from 'playwright-core';
import path from 'node:path';

const { MIDORI_CHROMIUM, PLAYGROUND_URL, PREVIEW_NAME, ARTIFACTS } = process.env;
const wait = Number(process.env.WAIT_MS || 120000);
const ui = new URL(PLAYGROUND_URL);
const token = new URLSearchParams(ui.hash.slice(1)).get('token');
const step = (text) => console.log(`[${new Date().toISOString()}] ${text}`);

const browser = await chromium.launch({ executablePath: MIDORI_CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
const leaks = [];
const errors = [];
let page;
try {
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(wait);
  // The token may go to the page's own origin only, and never in a URL.
  page.on('request', (request) => {
    const url = new URL(request.url());
    const inUrl = (url.origin + url.pathname + url.search).includes(token); // the fragment is never sent
    const inHeaders = Object.values(request.headers()).some((v) => v.includes(token));
    if (inUrl || (inHeaders && url.origin !== ui.origin)) leaks.push(`${request.method()} ${url.origin}${url.pathname}`);
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('console', (message) => { if (message.type() === 'error' && /Content Security Policy|Refused/.test(message.text())) errors.push(message.text()); });

  const row = page.locator(`#previews tr[data-name="${PREVIEW_NAME}"]`);
  const phase = (value) => row.locator(`td.phase:text-is("${value}")`);
  const frame = page.frameLocator('#frame');
  const heading = (text) => frame.locator(`h1:text-is("${text}")`);
  const editor = page.locator('#content');
  const shot = (name) => page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });

  step('open the playground');
  await page.goto(PLAYGROUND_URL);
  if (new URL(page.url()).hash.includes('token')) throw new Error('the token stayed in the address bar');
  // Opening a preview loads its stable URL in the frame, which is activity: an expired one wakes (a loaded box may be
  // slower than its idle timeout between creating it and getting here).
  await row.waitFor();
  await row.click();
  await heading('Version 1').waitFor();
  await page.locator('#events li[data-kind="status"]').first().waitFor();
  step('the preview shows version 1; edit one line (PATCH)');

  const text1 = await editor.inputValue();
  await editor.fill(text1.replace('Version 1', 'Version 2'));
  await heading('Version 2').waitFor();
  await page.locator('#save-state', { hasText: 'PATCH' }).waitFor();
  step('version 2 is served; add a line (whole-file PUT)');

  const text2 = await editor.inputValue();
  await editor.fill(text2.replace('</h1>', '</h1>\n<p id="added">added by the playground</p>'));
  await frame.locator('#added').waitFor();
  await page.locator('#save-state', { hasText: 'PUT' }).waitFor();
  await shot('1-edited.png');
  step('stop typing: the preview must expire');

  await phase('Expired').waitFor();
  await row.locator('td.ready:text-is("no")').waitFor();
  await shot('2-expired.png');
  step('expired; type again: it must wake with the new files');

  const text3 = await editor.inputValue();
  await editor.fill(text3.replace('Version 2', 'Version 3'));
  await phase('Running').waitFor();
  await heading('Version 3').waitFor();
  await frame.locator('#added').waitFor();
  await shot('3-woken.png');
  step('woken with version 3');

  if (leaks.length) throw new Error('the token left the page origin: ' + leaks.join(', '));
  if (errors.length) throw new Error('page errors: ' + errors.join(' | '));
  console.log('PLAYGROUND FLOW OK');
} catch (error) {
  if (page) await page.screenshot({ path: path.join(ARTIFACTS, 'failure.png'), fullPage: true }).catch(() => {});
  console.error(String(error && error.stack || error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
