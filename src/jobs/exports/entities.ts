/**
 * What an export holds: every entity type of one user, each one SELECT filtered by `:userId`.
 * This is the single definition every format (and the benchmark's floor) reads. Secrets never
 * appear: no password-reset token or expiry, no push keys (a subscription's endpoint only).
 */
export interface Entity {
  /** The JSON key, the CSV file name (`<name>.csv`) and the Markdown section. */
  name: string;
  title: string;
  columns: readonly string[];
  /** `FROM ... WHERE ... ORDER BY ...`, with `:userId`. */
  from: string;
}

export const ENTITIES: readonly Entity[] = [
  {
    name: 'profile',
    title: 'Profile',
    columns: ['id', 'email', 'display_name', 'timezone', 'last_rollover_date', 'created_at'],
    from: 'FROM users WHERE id = :userId',
  },
  {
    name: 'tasks',
    title: 'Tasks',
    columns: [
      'id',
      'title',
      'description',
      'priority',
      'tags',
      'due_date',
      'completed',
      'completed_at',
      'status',
      'overdue_at',
      'is_recurring',
      'recurrence_type',
      'recurrence_interval',
      'recurrence_parent_id',
      'last_processed_at',
      'created_at',
      'updated_at',
    ],
    from: 'FROM tasks WHERE user_id = :userId ORDER BY created_at, id',
  },
  {
    name: 'goals',
    title: 'Goals',
    columns: ['id', 'title', 'description', 'target_date', 'progress', 'completed', 'created_at'],
    from: 'FROM goals WHERE user_id = :userId ORDER BY created_at, id',
  },
  {
    name: 'daily_plans',
    title: 'Daily plans',
    columns: ['id', 'plan_date', 'created_at'],
    from: 'FROM daily_plans WHERE user_id = :userId ORDER BY plan_date',
  },
  {
    name: 'daily_plan_tasks',
    title: 'Tasks in daily plans',
    columns: ['plan_id', 'task_id'],
    from: 'FROM daily_plan_tasks WHERE plan_id IN (SELECT id FROM daily_plans WHERE user_id = :userId) ORDER BY plan_id, task_id',
  },
  {
    name: 'daily_routines',
    title: 'Daily routines',
    columns: ['id', 'title', 'active', 'created_at'],
    from: 'FROM daily_routines WHERE user_id = :userId ORDER BY created_at, id',
  },
  {
    name: 'routine_tasks',
    title: 'Routine tasks',
    columns: ['id', 'routine_id', 'title', 'completed', 'completed_at', 'position'],
    from: 'FROM routine_tasks WHERE user_id = :userId ORDER BY routine_id, position, id',
  },
  {
    name: 'reminders',
    title: 'Reminders',
    columns: ['id', 'task_id', 'remind_at', 'channels', 'message', 'sent', 'sent_at', 'outcome', 'created_at'],
    from: 'FROM reminders WHERE user_id = :userId ORDER BY remind_at, id',
  },
  {
    name: 'activity_logs',
    title: 'Activity log',
    columns: ['id', 'action', 'details', 'created_at'],
    from: 'FROM activity_logs WHERE user_id = :userId ORDER BY created_at, id',
  },
  {
    name: 'performance_history',
    title: 'Performance history',
    columns: ['date', 'score', 'completed_count', 'total_count', 'created_at'],
    from: 'FROM performance_history WHERE user_id = :userId ORDER BY date',
  },
  {
    name: 'streak',
    title: 'Streak',
    columns: ['current', 'longest', 'last_activity_date', 'updated_at'],
    from: 'FROM streaks WHERE user_id = :userId',
  },
  {
    name: 'push_subscriptions',
    title: 'Push subscriptions',
    columns: ['endpoint'],
    from: 'FROM push_subscriptions WHERE user_id = :userId ORDER BY created_at, id',
  },
];

/** The entity's rows with their columns in order: what the floor benchmark copies. */
export const selectRows = (entity: Entity) => `SELECT ${entity.columns.join(', ')} ${entity.from}`;

/**
 * One JSON text per row, column order kept. PostgreSQL renders the values (timestamps in ISO
 * 8601 under the UTC session zone, numbers, arrays, jsonb), so JS only passes text along.
 */
export const selectJsonRows = (entity: Entity) => `SELECT row_to_json(r)::text AS j FROM (${selectRows(entity)}) r`;

/**
 * One JSON text per column (`to_json`), in order: the cells of CSV and Markdown, rendered by
 * PostgreSQL as in the JSON document (ISO 8601 timestamps, arrays and jsonb as JSON), every
 * digit of `bigint`, `numeric` and `jsonb` numbers as stored.
 */
export const selectJsonCells = (entity: Entity) =>
  `SELECT ${entity.columns.map((column) => `to_json(r."${column}")::text`).join(', ')} FROM (${selectRows(entity)}) r`;
