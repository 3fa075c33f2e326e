// The clocks: a monotonic one for durations and schedules (a wall clock that steps back must
// not stretch a wait), and the caller's wall clock for "now".

export function monotonicNow(): number {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}

/** A source of "now" in ms since the Unix epoch. */
export type Clock = () => number;

/**
 * `clock`, checked: a reading that is not a finite number (NaN, a throw) is replaced by
 * `Date.now()` and reported once, so a broken clock can neither empty the store on restore
 * nor date events at NaN.
 */
export function checkedClock(clock: Clock, onBad: (reading: unknown) => void): Clock {
  let reported = false;
  return () => {
    let reading: unknown;
    try {
      reading = clock();
    } catch (error) {
      reading = error;
    }
    if (typeof reading === "number" && Number.isFinite(reading)) return reading;
    if (!reported) {
      reported = true;
      onBad(reading);
    }
    return Date.now();
  };
}
