/**
 * Which parsed statements are DDL that a `ddl_command_end` event trigger fires for (and so may
 * have a `pgincr.ddl_history` row): everything except queries, DML, transaction and session
 * commands, utility commands, and commands on global objects (roles, databases, tablespaces)
 * or on event triggers, for which event triggers never fire.
 */
import type { Node } from 'libpg-query';

const NOT_DDL = new Set([
  'SelectStmt',
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'MergeStmt',
  'TransactionStmt',
  'VariableSetStmt',
  'VariableShowStmt',
  'CopyStmt',
  'ExplainStmt',
  'CallStmt',
  'DoStmt',
  'TruncateStmt',
  'LockStmt',
  'NotifyStmt',
  'ListenStmt',
  'UnlistenStmt',
  'PrepareStmt',
  'ExecuteStmt',
  'DeallocateStmt',
  'VacuumStmt',
  'CheckPointStmt',
  'DiscardStmt',
  'ClusterStmt',
  'LoadStmt',
  'DeclareCursorStmt',
  'FetchStmt',
  'ClosePortalStmt',
  'ConstraintsSetStmt',
  'AlterSystemStmt',
  'ReturnStmt',
  'PLAssignStmt',
  // global objects and event triggers: event triggers do not fire for them
  'CreateRoleStmt',
  'AlterRoleStmt',
  'AlterRoleSetStmt',
  'DropRoleStmt',
  'GrantRoleStmt',
  'ReassignOwnedStmt',
  'CreatedbStmt',
  'AlterDatabaseStmt',
  'AlterDatabaseSetStmt',
  'AlterDatabaseRefreshCollStmt',
  'DropdbStmt',
  'CreateTableSpaceStmt',
  'DropTableSpaceStmt',
  'AlterTableSpaceOptionsStmt',
  'CreateEventTrigStmt',
  'AlterEventTrigStmt',
]);

const GLOBAL_OBJECTS = new Set(['OBJECT_DATABASE', 'OBJECT_ROLE', 'OBJECT_TABLESPACE', 'OBJECT_EVENT_TRIGGER']);

/** The node's type name (`CreateStmt`) and its fields. */
export function nodeType(node: Node): [string, Record<string, unknown>] {
  const [entry] = Object.entries(node);
  if (!entry) throw new Error('empty parse node');
  return [entry[0], (entry[1] ?? {}) as Record<string, unknown>];
}

/** True when the statement is DDL an event trigger records (see the module comment). */
export function isEventTriggerDdl(node: Node): boolean {
  const [type, fields] = nodeType(node);
  if (type === 'SelectStmt') return fields.intoClause !== undefined; // SELECT INTO creates a table
  if (NOT_DDL.has(type)) return false;
  for (const key of ['objtype', 'removeType', 'renameType', 'objectType']) {
    const t = fields[key];
    if (typeof t === 'string' && GLOBAL_OBJECTS.has(t)) return false;
  }
  return true;
}

/**
 * The first word of the command tag the statement fires with (`CREATE`, `ALTER`, `DROP`,
 * `GRANT`, `SELECT` for SELECT INTO, …), from its first keyword.
 */
export function statementVerb(node: Node, firstKeyword: string): string {
  const [type] = nodeType(node);
  return type === 'SelectStmt' ? 'SELECT' : firstKeyword.toUpperCase();
}

/** The first word of an event trigger command tag (`CREATE TABLE AS` → `CREATE`). */
export function tagVerb(commandTag: string): string {
  return commandTag.trim().split(/\s+/)[0]!.toUpperCase();
}

/**
 * Statements that cannot change the session's `standard_conforming_strings` while they run:
 * DDL that only writes catalog entries (defaults, checks and bodies are stored, not evaluated)
 * and a few utility commands. Anything else may run user code (functions, triggers, queries,
 * extension scripts), which may call `set_config`.
 */
const INERT = new Set([
  'ViewStmt',
  'CreateFunctionStmt',
  'AlterFunctionStmt',
  'CommentStmt',
  'GrantStmt',
  'DropStmt',
  'RenameStmt',
  'AlterObjectSchemaStmt',
  'AlterOwnerStmt',
  'CreateSeqStmt',
  'AlterSeqStmt',
  'CreateSchemaStmt',
  'CreateDomainStmt',
  'DefineStmt',
  'CompositeTypeStmt',
  'CreateEnumStmt',
  'CreateRangeStmt',
  'AlterEnumStmt',
  'CreateTrigStmt',
  'CreatePolicyStmt',
  'AlterPolicyStmt',
  'RuleStmt',
  'SecLabelStmt',
  'AlterDefaultPrivilegesStmt',
  'CreateStatsStmt',
  'VariableShowStmt',
  'ListenStmt',
  'UnlistenStmt',
  'PrepareStmt',
  'DeallocateStmt',
]);

/**
 * True unless the statement certainly leaves `standard_conforming_strings` as it was: SET or
 * RESET of it (or RESET ALL), DISCARD, transaction commands (a COMMIT or ROLLBACK undoes a SET
 * LOCAL), and everything outside {@link INERT}; CREATE TABLE only when it evaluates partition
 * bounds.
 */
export function mayChangeStringSetting(node: Node): boolean {
  const [type, f] = nodeType(node);
  if (type === 'VariableSetStmt') return f.kind === 'VAR_RESET_ALL' || (typeof f.name === 'string' && f.name.toLowerCase() === 'standard_conforming_strings');
  if (type === 'CreateStmt') return f.partbound !== undefined;
  return !INERT.has(type);
}

/** Statements that run a query or a script of their own. */
const RUNS_QUERIES = new Set(['CreateTableAsStmt', 'RefreshMatViewStmt', 'CreateExtensionStmt', 'AlterExtensionStmt', 'SelectStmt']);

/**
 * Whether a DDL statement may change `standard_conforming_strings` while it runs, before its
 * own `ddl_command_end` firing records the setting: when it calls a function in its text, or
 * runs a query or script. (DDL that only evaluates what the catalog already holds, such as an
 * index rebuild, is not counted: its text has nothing that reads differently.)
 */
export function firingMayChangeStringSetting(node: Node): boolean {
  const [type] = nodeType(node);
  return RUNS_QUERIES.has(type) || JSON.stringify(node).includes('"FuncCall"');
}
