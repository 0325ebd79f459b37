// Prints what a reader of a dziura HTML report sees first in its table section, as JSON:
//
//   node tests/browser/html_rows.mjs REPORT.html
//
// {own: [[cell, ...], ...] (the rows of the table shown first), showAll: the button's text,
//  fullShownFirst / fullShownAfterClick: whether the table of every function is visible}.
// Used by tests/test_html_report.py on reports of real programs.
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(pathToFileURL(process.argv[2]).href);
  await page.waitForSelector('#own-table tbody tr');
  const own = await page.$$eval('#own-table tbody tr', (rs) => rs.filter((r) => r.offsetParent !== null).map((r) => [...r.cells].map((c) => c.textContent)));
  const fullShownFirst = await page.isVisible('#functions');
  const showAll = await page.textContent('#show-all');
  await page.click('#show-all');
  const fullShownAfterClick = await page.isVisible('#functions');
  const fullRows = await page.locator('#functions tbody tr').count();
  console.log(JSON.stringify({ own, showAll, fullShownFirst, fullShownAfterClick, fullRows, errors }));
} finally {
  await browser.close();
}
