// A full disk (issue 14, fault 10): portcullis with its SQLite database on a small
// tmpfs, filled to the last byte by a filler file. Sign-in must say plainly that
// nothing can be saved (507), never the generic 500; /readyz must say 503 while writes
// fail; with the space back, sign-in works again and readiness recovers by itself.
// Needs a tmpfs mount (root); skipped otherwise. The SQLite error is the real one a
// full disk gives (ENOSPC -> SQLITE_FULL).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO, Server, httpsGet, launchBrowser, newContext, screenshot } from './harness.mjs';

const TEST_TIMEOUT = 300_000;
const SLACK_MS = 2_000;
// The store counts as not writable for 30 s after a write failed for want of space.
const FULL_WINDOW_MS = 30_000;
const RECOVERY_MS = FULL_WINDOW_MS + 30_000;

/** A fresh tmpfs of `size` mounted on a new directory, or null when mounting is not allowed. */
function mountTmpfs(size) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-e2e-disk-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return dir;
}
const probe = mountTmpfs('1m');
if (probe) {
  spawnSync('umount', [probe]);
  rmSync(probe, { recursive: true, force: true });
}
const skip = !probe && 'mounting a tmpfs is not allowed here (needs root)';

/** Writes zeros to `file` until the file system is full. */
function fill(file) {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if (e.code !== 'ENOSPC') throw e;
  }
  // Down to the last bytes too.
  const byte = Buffer.alloc(512);
  try {
    for (;;) writeSync(fd, byte);
  } catch (e) {
    if (e.code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}

async function within(ms, check) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

describe('a full disk under the SQLite store', { timeout: TEST_TIMEOUT, skip }, () => {
  let mount;
  let server;
  let browser;

  before(async () => {
    mount = mountTmpfs('16m');
    server = await Server.start('faults-disk', { dataDir: path.join(mount, 'data') });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (mount) {
      spawnSync('umount', [mount]);
      rmSync(mount, { recursive: true, force: true });
    }
  });

  /** One sign-in in a fresh browser; resolves to the status of the last page and its text. */
  async function signIn(name) {
    const context = await newContext(browser);
    try {
      const page = await context.newPage();
      const statuses = [];
      page.on('response', (r) => {
        if (r.request().isNavigationRequest()) statuses.push(r.status());
      });
      await page.goto(`${server.url}/login`);
      await page.getByLabel('Email', { exact: true }).fill(DEMO.email);
      await page.getByRole('button', { name: 'Continue', exact: true }).click();
      await page.getByLabel('Password', { exact: true }).fill(DEMO.password);
      await page.getByRole('button', { name: 'Login', exact: true }).click();
      await page.waitForLoadState('load');
      const text = await page.locator('body').innerText();
      if (name) await screenshot(page, name);
      return { status: statuses.at(-1), statuses, text, path: new URL(page.url()).pathname };
    } finally {
      await context.close();
    }
  }

  test('sign-in says storage is full (507), /readyz says 503; with space back both recover', async (t) => {
    const ok = await signIn();
    assert.equal(ok.path, '/apps', 'a sign-in before the disk is full');
    assert.equal((await httpsGet(server.port, '/readyz')).status, 200);
    // Someone signed in with the profile form open.
    const editor = await newContext(browser);
    const profile = await editor.newPage();
    await profile.goto(`${server.url}/login`);
    await profile.getByLabel('Email', { exact: true }).fill(DEMO.email);
    await profile.getByRole('button', { name: 'Continue', exact: true }).click();
    await profile.getByLabel('Password', { exact: true }).fill(DEMO.password);
    await profile.getByRole('button', { name: 'Login', exact: true }).click();
    await profile.waitForURL((u) => u.pathname === '/apps');
    await profile.goto(`${server.url}/profile`);

    const filler = path.join(mount, 'filler');
    fill(filler);
    try {
      // Each sign-in stores a session: within a few, one needs a page the disk has no room for.
      let full = null;
      let attempts = 0;
      while (!full && attempts < 100) {
        attempts++;
        const r = await signIn();
        assert.ok(!r.statuses.includes(500), `no generic 500 (statuses ${r.statuses})`);
        if (r.path !== '/apps') full = r;
      }
      t.diagnostic(`the disk-full page came at sign-in ${attempts}`);
      assert.ok(full, 'a sign-in hit the full disk');
      assert.equal(full.status, 507, full.text);
      assert.match(full.text, /Changes cannot be saved right now/);
      assert.match(full.text, /storage is full/);

      // Saving the profile: saved, or the same plain page; never the generic 500.
      await profile.getByRole('group', { name: 'Employment Information' }).getByLabel(/^city$/i).fill('Porto');
      const saved = profile.waitForResponse((r) => r.request().method() === 'POST');
      await profile.getByRole('button', { name: 'Save changes' }).click();
      const save = await saved;
      await profile.waitForLoadState('load');
      t.diagnostic(`profile save on the full disk: ${save.status()}`);
      assert.notEqual(save.status(), 500);
      if (save.status() !== 303) {
        assert.equal(save.status(), 507);
        assert.match(await profile.locator('body').innerText(), /storage is full/);
      }
      await editor.close();

      const started = Date.now();
      const ready = await httpsGet(server.port, '/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.trim(), 'store full');
      assert.ok(Date.now() - started < 1_000 + SLACK_MS);
    } finally {
      rmSync(filler, { force: true });
    }

    // Space is back: sign-in works at once, readiness within its window.
    const again = await signIn();
    assert.equal(again.path, '/apps', again.text);
    assert.ok(
      await within(RECOVERY_MS, async () => (await httpsGet(server.port, '/readyz')).status === 200),
      'ready again',
    );
    assert.equal(server.child.exitCode, null, 'portcullis never stopped');
  });
});
