/**
 * `publish --tag X` of a build already published: X goes on the published build and the immutable
 * tag stays where it is; a build that differs in more than its tags is still refused, with a hint
 * naming the exact `kart tag` command.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { publishKernel } from '../../../src/kernel/publish/index.ts';
import { fetchManifest } from '../../../src/oci/manifest-io.ts';
import { openLayout } from '../../../src/oci/layout.ts';
import { makeFixtureWorld } from './publish-fixture.ts';

const world = makeFixtureWorld();
afterAll(() => rmSync(world.root, { recursive: true, force: true }));

describe('publish --tag on an already published build', () => {
  const dir = join(world.root, 'store');
  const build = world.build({ release: '6.1.10-extra' });

  it('adds the tag to the published build without moving the immutable tag', async () => {
    const first = await publishKernel({ buildDir: build, flavor: world.flavor, to: `oci:${dir}` });
    const immutable = first.tags.find((t) => t.immutable)!;
    const plan = await publishKernel({
      buildDir: build,
      flavor: world.flavor,
      to: `oci:${dir}`,
      tags: ['lts'],
      dryRun: true,
    });
    expect(plan.tags.map((t) => [t.tag, t.action])).toEqual([['lts', 'create']]);

    const second = await publishKernel({
      buildDir: build,
      flavor: world.flavor,
      to: `oci:${dir}`,
      tags: ['lts'],
    });
    expect(second.manifest.digest).toBe(first.manifest.digest);
    expect(second.uploadBytes).toBe(0);
    expect(second.tags.map((t) => [t.tag, t.action])).toEqual([['lts', 'create']]);

    const layout = await openLayout(dir);
    expect((await layout.resolve(immutable.tag)).digest).toBe(immutable.next);
    const lts = await fetchManifest(layout, await layout.resolve('lts'));
    expect(lts.kind === 'index' && lts.index.manifests.map((m) => m.digest)).toEqual([first.manifest.digest]);

    // Again: nothing to do.
    const third = await publishKernel({
      buildDir: build,
      flavor: world.flavor,
      to: `oci:${dir}`,
      tags: ['lts'],
    });
    expect(third.unchanged).toBe(true);
  });

  it('refuses a different build under the same immutable tag, naming the kart tag command', async () => {
    const other = world.build({ release: '6.1.10-extra', name: 'other' });
    // Same config (so the same immutable tag), other annotations: a different build.
    const attempt = publishKernel({
      buildDir: other,
      flavor: world.flavor,
      to: `oci:${dir}`,
      tags: ['stable'],
      annotations: { 'org.example.note': 'rebuilt' },
    });
    await expect(attempt).rejects.toMatchObject({ code: 'TAG_IMMUTABLE', exitCode: 2 });
    const error = (await attempt.catch((e: unknown) => e)) as { hint: string; details: { command: string } };
    expect(error.details.command).toMatch(new RegExp(`^kart tag oci:${dir}:6\\.1\\.10-[0-9a-f]{12} stable$`));
    expect(error.hint).toContain(`run: ${error.details.command}`);
  });
});
