/**
 * Child process for catalog-lock.test.ts: `<chainDir> <first> <count>` adds checkpoints with
 * LSNs first..first+count-1 through updateCatalog, concurrently, each update slow on purpose.
 */
import { updateCatalog } from '../../../src/adapters/fs/catalog-store';
import { addCheckpoint, emptyCatalog } from '../../../src/core/catalog/catalog';
import { formatLsn } from '../../../src/core/lsn';
import { checkpointRelPath } from '../../../src/core/repository/paths';

export async function addCheckpoints(chain: string, first: number, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const lsn = BigInt(first + i);
      await updateCatalog(chain, async (catalog) => {
        await new Promise((r) => setTimeout(r, 1 + Math.random() * 3)); // widen the load → save window
        return addCheckpoint(catalog ?? emptyCatalog('7000000000000000002', 'app'), {
          lsn: formatLsn(lsn),
          takenAt: '2026-01-01T00:00:00.000000Z',
          file: checkpointRelPath(lsn),
        });
      });
    }),
  );
}

if (require.main === module) {
  const [chain, first, count] = process.argv.slice(2);
  addCheckpoints(chain!, Number(first), Number(count)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
