/**
 * Which parsed statements are DDL that a `ddl_command_end` event trigger fires for (and so may
 * have a `pgincr.ddl_history` row): everything except queries, DML, transaction and session
 * commands, utility commands, and commands on global objects (roles, databases, tablespaces)
 * or on event triggers, for which event triggers never fire.
 */
import type { Node } from 'libpg-query';

const NOT_DDL = new Set([
  'SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'TransactionStmt', 'VariableSetStmt',
  'VariableShowStmt', 'CopyStmt', 'ExplainStmt', 'CallStmt', 'DoStmt', 'TruncateStmt', 'LockStmt', 'NotifyStmt',
  'ListenStmt', 'UnlistenStmt', 'PrepareStmt', 'ExecuteStmt', 'DeallocateStmt', 'VacuumStmt', 'CheckPointStmt',
  'DiscardStmt', 'ClusterStmt', 'LoadStmt', 'DeclareCursorStmt', 'FetchStmt', 'ClosePortalStmt',
  'ConstraintsSetStmt', 'AlterSystemStmt', 'ReturnStmt', 'PLAssignStmt',
  // global objects and event triggers: event triggers do not fire for them
  'CreateRoleStmt', 'AlterRoleStmt', 'AlterRoleSetStmt', 'DropRoleStmt', 'GrantRoleStmt', 'ReassignOwnedStmt',
  'CreatedbStmt', 'AlterDatabaseStmt', 'AlterDatabaseSetStmt', 'AlterDatabaseRefreshCollStmt', 'DropdbStmt',
  'CreateTableSpaceStmt', 'DropTableSpaceStmt', 'AlterTableSpaceOptionsStmt', 'CreateEventTrigStmt',
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
