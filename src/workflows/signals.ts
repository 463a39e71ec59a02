import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { CaptureStatus, RestoreProgress } from './boundary';

// The query results' types and decoders live in ./boundary.ts (one each); re-exported here for callers.
export type { CaptureStatus, RestoreProgress };

export const rotateSignal = defineSignal('rotate');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const stopSignal = defineSignal('stop');
export const captureStatusQuery = defineQuery<CaptureStatus>('status');
export const restoreProgressQuery = defineQuery<RestoreProgress>('progress');
