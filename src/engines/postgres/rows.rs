//! Driver rows into the plain row structs of `parse.rs`: one conversion per
//! statement, column by column in the order its SQL selects them, and nothing else.

use tokio_postgres::Row;

use super::parse::{
    ActivityRow, BlockingRow, DatabaseStatsRow, IncidentRow, LockRow, NameKind, NameRow,
    SessionEnds, SettingRow,
};
use crate::engines::ReadError;

/// A column that did not hold the type its SQL gives it.
#[derive(Debug)]
pub(super) struct ColumnError(tokio_postgres::Error);

impl std::fmt::Display for ColumnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<tokio_postgres::Error> for ColumnError {
    fn from(e: tokio_postgres::Error) -> ColumnError {
        ColumnError(e)
    }
}

impl From<ColumnError> for ReadError {
    fn from(e: ColumnError) -> ReadError {
        ReadError::Failed(e.to_string())
    }
}

/// Every row of a statement.
pub(super) fn all<'a, T>(rows: &'a [Row]) -> Result<Vec<T>, ColumnError>
where
    T: TryFrom<&'a Row, Error = ColumnError>,
{
    rows.iter().map(T::try_from).collect()
}

impl TryFrom<&Row> for ActivityRow {
    type Error = ColumnError;
    fn try_from(row: &Row) -> Result<ActivityRow, ColumnError> {
        Ok(ActivityRow {
            datid: row.try_get(0)?,
            usesysid: row.try_get(1)?,
            application: row.try_get(2)?,
            state: row.try_get(3)?,
            count: row.try_get(4)?,
            max_state_seconds: row.try_get(5)?,
            sum_age_seconds: row.try_get(6)?,
            max_age_seconds: row.try_get(7)?,
            oldest_transaction_seconds: row.try_get(8)?,
            over: row.try_get(9)?,
            lock_waiters: row.try_get(10)?,
            hidden: row.try_get(11)?,
        })
    }
}

impl TryFrom<&Row> for SettingRow {
    type Error = ColumnError;
    fn try_from(row: &Row) -> Result<SettingRow, ColumnError> {
        Ok(SettingRow {
            name: row.try_get(0)?,
            setting: row.try_get(1)?,
            unit: row.try_get(2)?,
            reset_val: row.try_get(3)?,
        })
    }
}

impl TryFrom<&Row> for NameRow {
    type Error = ColumnError;
    fn try_from(row: &Row) -> Result<NameRow, ColumnError> {
        Ok(NameRow {
            kind: NameKind::from_tag(row.try_get(0)?),
            oid: row.try_get(1)?,
            name: row.try_get(2)?,
            limit: row.try_get(3)?,
        })
    }
}

impl TryFrom<&Row> for LockRow {
    type Error = ColumnError;
    fn try_from(row: &Row) -> Result<LockRow, ColumnError> {
        Ok(LockRow {
            mode: row.try_get(0)?,
            granted: row.try_get(1)?,
            count: row.try_get(2)?,
        })
    }
}

impl TryFrom<&Row> for BlockingRow {
    type Error = ColumnError;
    fn try_from(row: &Row) -> Result<BlockingRow, ColumnError> {
        Ok(BlockingRow {
            pid: row.try_get(0)?,
            blocked_by: row.try_get(1)?,
            wait_seconds: row.try_get(2)?,
        })
    }
}

impl TryFrom<&Row> for DatabaseStatsRow {
    type Error = ColumnError;
    fn try_from(row: &Row) -> Result<DatabaseStatsRow, ColumnError> {
        // Column 0 is pg_conf_load_time(): see `conf_load_time`. The session
        // counters are there where `sql::counts_sessions` selects them.
        let sessions = if row.len() > 2 {
            Some(SessionEnds {
                sessions: row.try_get(2)?,
                abandoned: row.try_get(3)?,
                fatal: row.try_get(4)?,
                killed: row.try_get(5)?,
            })
        } else {
            None
        };
        Ok(DatabaseStatsRow {
            deadlocks: row.try_get(1)?,
            sessions,
        })
    }
}

impl TryFrom<&Row> for IncidentRow {
    type Error = ColumnError;
    fn try_from(row: &Row) -> Result<IncidentRow, ColumnError> {
        // Column 14, the statement text, is there only where it was asked for.
        let query = if row.len() > 14 {
            row.try_get(14)?
        } else {
            None
        };
        Ok(IncidentRow {
            pid: row.try_get(0)?,
            datid: row.try_get(1)?,
            usesysid: row.try_get(2)?,
            application: row.try_get(3)?,
            client: row.try_get(4)?,
            state: row.try_get(5)?,
            state_seconds: row.try_get(6)?,
            transaction_seconds: row.try_get(7)?,
            connection_seconds: row.try_get(8)?,
            wait_event_type: row.try_get(9)?,
            wait_event: row.try_get(10)?,
            blocked_by: row.try_get(11)?,
            hidden: row.try_get(12)?,
            own: row.try_get(13)?,
            query,
        })
    }
}

/// When the server last loaded its configuration, from the database statistics
/// statement; `None` when it could not be read.
pub(super) fn conf_load_time(rows: &[Row]) -> Option<String> {
    rows.first().and_then(|row| row.try_get(0).ok())
}
