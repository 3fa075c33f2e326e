// The worker script of `localrank/slim/worker`: a LocalRanker of the slim flavour inside a dedicated module
// worker, serving the page (./serve.ts).

import { createLocalRanker, wasmLoader } from "../entries/slim-browser.js";
import { serve } from "./serve.js";

serve(globalThis as unknown as Parameters<typeof serve>[0], { createLocalRanker, wasmLoader });
