// mulberry32: a tiny seeded PRNG, so generated data (the demo catalogue, the benchmark's
// scenarios, the kill test's timings) is the same on every machine and a failing run can be replayed
// from its seed. Shared by www/make-catalogue.mjs, bench/lib/cases.mjs and tests/js/durable.test.mjs.

/**
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
