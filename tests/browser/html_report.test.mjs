// Browser test of dziura's HTML report: headless Debian chromium driven by playwright-core.
//
//   node tests/browser/html_report.test.mjs
//
// Builds two reports of the dziura-formats test profiles (sampled and traced, with hostile
// function names) with `cargo run --example html_fixture`, opens them from file:// with the
// network cut off, and clicks through the tree, the flame graph search and zoom and the table.
// Screenshots go to $DZIURA_SCREENSHOT_DIR (default: a new temporary folder).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dziura-html-'));
const shots = process.env.DZIURA_SCREENSHOT_DIR || work;
fs.mkdirSync(shots, { recursive: true });

function build(name, ...extra) {
  const out = path.join(work, name);
  execFileSync('cargo', ['run', '-q', '-p', 'dziura-formats', '--example', 'html_fixture', '--', out, ...extra], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return out;
}

const HOSTILE = '<script>alert(1)</script>';

async function open(context, file) {
  const page = await context.newPage();
  const problems = { dialogs: [], errors: [], requests: [] };
  page.on('dialog', async (d) => {
    problems.dialogs.push(d.type() + ': ' + d.message());
    await d.dismiss();
  });
  page.on('pageerror', (e) => problems.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.errors.push('console: ' + m.text());
  });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('#flame .fr');
  return { page, problems };
}

async function checkCommon(page, label) {
  // Names are text: the title and the heading show the hostile command verbatim.
  const h1 = await page.textContent('#title');
  assert.ok(h1.includes('</title><script>alert(5)</script>'), `${label}: heading ${h1}`);
  assert.ok((await page.title()).includes('alert(5)'), `${label}: document title`);
  // Only the page's own two scripts exist; no element came from a name.
  assert.equal(await page.evaluate(() => document.scripts.length), 2, `${label}: scripts`);
  assert.equal(await page.locator('img').count(), 0, `${label}: img elements`);

  // Flame graph search: every highlighted frame matches, and the count is reported.
  await page.fill('#search', 'fib');
  const matched = await page.$$eval('#flame .fr.match', (rs) => rs.map((r) => r.textContent));
  assert.ok(matched.length >= 2, `${label}: fib matches ${matched}`);
  assert.ok(matched.every((t) => t === 'fib'), `${label}: matched ${matched}`);
  const info = await page.textContent('#match-info');
  assert.match(info, /^\d+ matching frames, [\d.]+% of the total$/, `${label}: ${info}`);
  // The hostile name is found as text by the search box too.
  await page.fill('#search', 'alert\\(1\\)');
  const hostileRects = await page.$$eval('#flame .fr.match', (rs) => rs.map((r) => r.textContent));
  assert.ok(hostileRects.length >= 1 && hostileRects.every((t) => t === '<script>alert(1)</script>'), `${label}: ${hostileRects}`);
  await page.fill('#search', 'fib');

  // Click to zoom: the clicked frame fills the width, its ancestors stay as full bars.
  const before = await page.locator('#flame .fr').count();
  const fib = page.locator('#flame .fr.match').first();
  await fib.click();
  const zoomed = await page.$$eval('#flame .fr', (rs) =>
    rs.filter((r) => r.textContent === 'fib' && !r.classList.contains('anc')).map((r) => r.style.width));
  assert.ok(zoomed.includes('100%'), `${label}: zoomed widths ${zoomed}`);
  assert.ok((await page.locator('#flame .fr.anc').count()) >= 1, `${label}: ancestors shown`);
  assert.ok((await page.locator('#flame .fr').count()) < before, `${label}: zoom drops frames`);
  await page.click('#reset-zoom');
  assert.equal(await page.locator('#flame .fr').count(), before, `${label}: reset zoom`);

  // The table section opens on "your code first": fib (the user's) is charged the most, the
  // full table is hidden behind a button that says it is there.
  assert.equal(await page.isVisible('#own-table'), true, `${label}: own table shown`);
  assert.equal(await page.isVisible('#functions'), false, `${label}: full table one click away`);
  const ownFirst = await page.$$eval('#own-table tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
  assert.equal(ownFirst[0], 'fib', `${label}: own row 1 ${ownFirst}`);
  assert.match(ownFirst[1], /main\.py:10$/, `${label}: own row 1 ${ownFirst}`);
  assert.match(await page.textContent('#show-all'), /^Show all \d+ functions$/);
  await showAll(page);
  assert.equal(await page.isVisible('#own-table'), false, `${label}: own table hidden`);
  // Sortable table: by name ascending, then by calls descending, then own % descending.
  const col = async (i) => page.$$eval(`#functions tbody tr td:nth-child(${i})`, (tds) => tds.map((t) => t.textContent));
  const names0 = await col(1);
  assert.ok(names0.includes(HOSTILE), `${label}: hostile name in table ${names0}`);
  await page.click('#functions th[data-key=name]');
  assert.equal(await page.getAttribute('#functions th[data-key=name]', 'aria-sort'), 'ascending');
  const names = await col(1);
  const sorted = [...names].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0));
  assert.deepEqual(names, sorted, `${label}: names sorted`);
  await page.click('#functions th[data-key=name]');
  assert.equal(await page.getAttribute('#functions th[data-key=name]', 'aria-sort'), 'descending');
  assert.deepEqual(await col(1), [...sorted].reverse(), `${label}: names reversed`);
  await page.click('#functions th[data-key=calls]');
  const calls = (await col(3)).map((t) => parseInt(t, 10));
  assert.deepEqual(calls, [...calls].sort((a, b) => b - a), `${label}: calls descending ${calls}`);
  await page.click('#functions th[data-key=ownpct]');
  const pcts = (await col(6)).map(parseFloat);
  assert.deepEqual(pcts, [...pcts].sort((a, b) => b - a), `${label}: own % descending ${pcts}`);
  await page.click('#functions th[data-key=loc]');
  assert.equal(await page.getAttribute('#functions th[data-key=loc]', 'aria-sort'), 'ascending');

  // The hostile name appears as text wherever it is drawn.
  assert.ok((await page.getByText(HOSTILE, { exact: true }).count()) >= 2, `${label}: hostile text`);
}

// Opens the full table of every function (the report starts on "your code first").
async function showAll(page) {
  if (await page.isVisible('#show-all')) await page.click('#show-all');
}

function exact(text) {
  return new RegExp('^' + text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$');
}

// Clicks the first collapsed tree row whose name is `rowText`; returns its <li>, now open.
async function expand(page, rowText) {
  const row = page
    .locator('#tree li.has-children:not(.open) > .row')
    .filter({ has: page.locator('.nm', { hasText: exact(rowText) }) })
    .first();
  const li = await row.locator('xpath=..').elementHandle();
  assert.ok(!(await li.evaluate((e) => e.classList.contains('open'))), `${rowText} starts closed`);
  await row.click();
  assert.ok(await li.evaluate((e) => e.classList.contains('open')), `expanded ${rowText}`);
  const kids = await li.$$(':scope > ul > li');
  assert.ok(kids.length >= 1, `${rowText} children`);
  return li;
}

async function childRows(li) {
  return li.$$eval(':scope > ul > li > .row', (rs) => rs.map((r) => r.textContent));
}

let context;
const sampledFile = build('sampled.html');
const tracedFile = build('traced.html', 'traced');
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dziura-chromium-'));
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const version = context.browser() ? context.browser().version() : 'unknown';
  console.log(`chromium ${version}, playwright-core ${JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/browser/node_modules/playwright-core/package.json'))).version}`);
  // The report must not fetch anything: every request other than the file itself fails.
  const requests = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    requests.push(url);
    return route.abort();
  });

  // --- sampled report ---
  {
    const { page, problems } = await open(context, sampledFile);
    const threads = await page.locator('#tree > ul > li').count();
    assert.equal(threads, 2, 'one tree node per thread');
    const t = await expand(page, 'thread MainThread (native id 1001)');
    assert.equal(await t.evaluate((e) => e.querySelector('.row .pct').textContent), '50.0%', 'MainThread: 7 of 14 samples');
    await expand(page, 'main');
    const fibLi = await expand(page, 'fib');
    assert.match((await childRows(fibLi))[0], /fib/);
    // Collapse again by clicking.
    await (await fibLi.$(':scope > .row')).click();
    assert.equal(await fibLi.evaluate((e) => e.classList.contains('open')), false, 'collapses');
    await expand(page, 'thread Worker-1 (native id 1002)');
    await expand(page, 'worker');
    assert.ok((await page.locator('#tree .nm', { hasText: 'alert(1)' }).count()) >= 1);
    // Collapse all, then open the hottest path in one click.
    await page.click('#collapse-all');
    assert.equal(await page.locator('#tree li.open').count(), 0, 'collapse all');
    await page.click('#expand-hot');
    const hotPath = await page.$$eval('#tree li.open > .row .nm', (ns) => ns.map((n) => n.textContent));
    assert.deepEqual(hotPath, ['thread MainThread (native id 1001)', 'main', 'fib'], 'hottest path');
    // The table filter.
    await showAll(page);
    await page.fill('#table-filter', 'alert');
    const filtered = await page.$$eval('#functions tbody td:first-child', (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(filtered.sort(), [HOSTILE, '<img src=x onerror=alert(3)><!--'].sort(), 'filter');
    await page.fill('#table-filter', '');
    await page.click('#show-own');
    await checkCommon(page, 'sampled');
    // Source of the hottest functions, with the hot line marked.
    const heads = await page.$$eval('#sources h3', (hs) => hs.map((h) => h.textContent));
    assert.ok(heads.length >= 2, `sources ${heads}`);
    assert.ok(heads.some((h) => h.startsWith('fib')), `sources ${heads}`);
    const hot = await page.$$eval('#sources tr.hot td.code', (tds) => tds.map((t) => t.textContent));
    assert.ok(hot.includes('    return fib(n - 1) + fib(n - 2)'), `hot lines ${JSON.stringify(hot)}`);
    await page.fill('#search', 'fib');
    await page.screenshot({ path: path.join(shots, 'html-report-sampled.png'), fullPage: true });
    assert.deepEqual(problems.dialogs, [], 'no dialog fired');
    assert.deepEqual(problems.errors, [], 'no script errors');
    await page.close();
  }

  // --- traced report ---
  {
    const { page, problems } = await open(context, tracedFile);
    const roots = await page.$$eval('#tree > ul > li > .row .nm', (ns) => ns.map((n) => n.textContent));
    assert.deepEqual(roots, ['main', 'worker'], 'roots are the functions nobody calls');
    await expand(page, 'main');
    const fibLi = await expand(page, 'fib');
    const rec = (await childRows(fibLi)).filter((t) => t.includes('recursion'));
    assert.equal(rec.length, 1, `recursion marked: ${await childRows(fibLi)}`);
    assert.match(rec[0], /fib.*14 calls/);
    await expand(page, 'worker');
    await expand(page, HOSTILE);
    await checkCommon(page, 'traced');
    assert.equal(await page.locator('#sources tr.hot').count(), 0, 'no hot lines without samples');
    assert.ok((await page.locator('#sources h3').count()) >= 1, 'traced sources');
    await page.screenshot({ path: path.join(shots, 'html-report-traced.png'), fullPage: true });
    assert.deepEqual(problems.dialogs, [], 'no dialog fired');
    assert.deepEqual(problems.errors, [], 'no script errors');
    await page.close();
  }
  assert.deepEqual(requests, [], 'no network requests');
  console.log(`ok: html report browser test (screenshots in ${shots})`);
} finally {
  if (context) await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
