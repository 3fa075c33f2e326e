// The worker script of `localrank/worker`: a LocalRanker of the full flavour inside a dedicated module
// worker, serving the page (./serve.ts).

import { createLocalRanker, wasmLoader } from "../entries/browser.js";
import { serve } from "./serve.js";

serve(globalThis as unknown as Parameters<typeof serve>[0], { createLocalRanker, wasmLoader });
