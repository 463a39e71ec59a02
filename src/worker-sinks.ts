/**
 * The sinks every worker of pgincr's workflows registers — `pgincr worker`, in-process test
 * workers and replays alike (a workflow calling an unregistered sink logs an error): the
 * test-only kill points in workflow code (src/workflows/boundary.ts, FaultSinks), a no-op unless
 * PGINCR_FAULT_POINT is set. A module of its own so test helpers load it without the worker.
 */
import type { InjectedSinks } from '@temporalio/worker';
import { faultPoint } from './adapters/fault-point';
import type { FaultSinks } from './workflows/boundary';

export const workerSinks: InjectedSinks<FaultSinks> = {
  faults: { point: { fn: (_info, name) => faultPoint(name), callDuringReplay: false } },
};
