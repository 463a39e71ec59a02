import { defineQuery, defineSignal } from '@temporalio/workflow';

export interface CaptureStatus {
  state: 'running' | 'paused' | 'stopping' | 'stopped';
  lastDurableLsn: string | null;
  iterations: number;
  transactions: number;
  changes: number;
  bytes: number;
  segmentsSealed: number;
  lastRunEndedAt: string | null;
  /** Capture-table rows refused for a missing or wrong signature in this execution (docs/security.md). */
  refusedRows?: number;
}

export const rotateSignal = defineSignal('rotate');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const stopSignal = defineSignal('stop');
export const captureStatusQuery = defineQuery<CaptureStatus>('status');

export interface RestoreProgress {
  step: string;
  steps: { name: string; ms: number }[];
}
export const restoreProgressQuery = defineQuery<RestoreProgress>('progress');
