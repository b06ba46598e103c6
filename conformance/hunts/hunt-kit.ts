import fc from 'fast-check';
import type { Finding, HistoryEntry } from '../model.js';
import type { ControlContext, ControlOutcome } from '../control.js';

const HUNT_TIME_LIMIT_MS = 15_000;

/** Thrown by a hunt command when the sidecar broke an invariant; fast-check then shrinks. */
export class InvariantViolation extends Error {
  constructor(
    readonly invariant: string,
    message: string,
  ) {
    super(`${invariant}: ${message}`);
  }
}

export interface HuntRun<Model extends object, Real> {
  readonly name: string;
  readonly commands: fc.Arbitrary<fc.AsyncCommand<Model, Real>>[];
  readonly maxCommands: number;
  setup(): { model: Model; real: Real };
  /** Undo what a run left behind (free blocks...), outside the witness. */
  cleanup(model: Model, real: Real): Promise<void>;
}

/**
 * Runs a model-based hunt with fast-check (asyncModelRun) and turns a counterexample into a
 * finding with a replayable witness: seed, path, the shrunk command list and the requests of the
 * smallest failing run (as Jepsen's Elle reports the minimal anomaly).
 */
export async function runHunt<Model extends object, Real>(ctx: ControlContext, hunt: HuntRun<Model, Real>, controlId: string): Promise<ControlOutcome> {
  let witness: { violation: InvariantViolation; history: HistoryEntry[] } | undefined;
  let executed = 0;
  // A replay is `<fast-check path>#<commands replayPath>`: model-based runs need both to replay.
  const [path, commandsReplayPath] = (ctx.replayPath ?? '').split('#');
  const property = fc.asyncProperty(fc.commands(hunt.commands, { maxCommands: hunt.maxCommands, size: 'max', ...(commandsReplayPath ? { replayPath: commandsReplayPath } : {}) }), async (commands) => {
    const mark = ctx.target.history.length;
    const { model, real } = hunt.setup();
    executed++;
    try {
      await fc.asyncModelRun(() => ({ model, real }), commands);
    } catch (error) {
      if (error instanceof InvariantViolation) witness = { violation: error, history: ctx.target.historySince(mark) };
      throw error;
    } finally {
      await hunt.cleanup(model, real);
    }
  });
  const result = await fc.check(property, {
    seed: ctx.seed,
    numRuns: ctx.runs,
    ...(path ? { path, endOnFailure: true } : {}),
    // Shrinking replays many runs against a live server; keep a hunt bounded in time.
    interruptAfterTimeLimit: HUNT_TIME_LIMIT_MS,
  });
  const evidence = [`${hunt.name}: ${executed} fast-check runs (seed ${ctx.seed}), ${ctx.target.history.length} requests so far in this session`];
  if (!result.failed) return { evidence };
  if (!witness) {
    // Not an invariant violation: the harness or the target failed in another way.
    throw result.errorInstance instanceof Error ? result.errorInstance : new Error(String(result.errorInstance));
  }
  const commands = (result.counterexample?.[0] ?? []) as Iterable<unknown>;
  const commandsPath = /replayPath="([^"]*)"/.exec(String(result.counterexample?.[0]))?.[1];
  const replay = `${result.counterexamplePath ?? ''}${commandsPath ? `#${commandsPath}` : ''}`;
  const finding: Finding = {
    message: witness.violation.message,
    seed: result.seed,
    path: replay,
    witness: witness.history,
    replay: `tenantguard conformance --spawn --only ${controlId} --seed ${result.seed} --replay '${replay}'`,
  };
  evidence.push(`shrunk counterexample: ${[...commands].map(String).join(' → ')}`);
  return { evidence, finding };
}
