//! The five session states every engine maps its own onto, and a value per state.
//!
//! One fixed set, so that a dashboard or alert written for one engine works on all:
//! an engine with a state of its own maps it onto these, never adds one.

/// Normalized session state, shared by every engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Active,
    Idle,
    IdleInTransaction,
    IdleInTransactionAborted,
    Other,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Active,
        State::Idle,
        State::IdleInTransaction,
        State::IdleInTransactionAborted,
        State::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Idle => "idle",
            State::IdleInTransaction => "idle_in_transaction",
            State::IdleInTransactionAborted => "idle_in_transaction_aborted",
            State::Other => "other",
        }
    }

    /// Maps `pg_stat_activity.state`. A NULL state (a session the exporter's role may
    /// not inspect, or one still starting) is `other`, never dropped: it still holds a
    /// connection slot.
    pub fn from_postgres(state: Option<&str>) -> State {
        match state {
            Some("active") | Some("fastpath function call") => State::Active,
            Some("idle") => State::Idle,
            Some("idle in transaction") => State::IdleInTransaction,
            Some("idle in transaction (aborted)") => State::IdleInTransactionAborted,
            _ => State::Other,
        }
    }

    /// Maps a MySQL/MariaDB processlist `COMMAND`, given whether the thread has an open
    /// InnoDB transaction. `None` means the thread is not a client session at all.
    pub fn from_mysql(command: &str, in_transaction: bool) -> Option<State> {
        match command {
            "Sleep" if in_transaction => Some(State::IdleInTransaction),
            "Sleep" => Some(State::Idle),
            "Daemon" | "Binlog Dump" | "Binlog Dump GTID" | "Connect" | "Slave_IO"
            | "Slave_SQL" | "Slave_worker" | "Register Slave" => None,
            "Killed" | "Connect Out" => Some(State::Other),
            _ => Some(State::Active),
        }
    }
}

/// One value per [`State`], indexed by state.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PerState<T>([T; 5]);

impl<T: Copy> PerState<T> {
    pub fn get(&self, state: State) -> T {
        let [active, idle, in_tx, aborted, other] = &self.0;
        *match state {
            State::Active => active,
            State::Idle => idle,
            State::IdleInTransaction => in_tx,
            State::IdleInTransactionAborted => aborted,
            State::Other => other,
        }
    }
}

impl<T> PerState<T> {
    pub fn get_mut(&mut self, state: State) -> &mut T {
        let [active, idle, in_tx, aborted, other] = &mut self.0;
        match state {
            State::Active => active,
            State::Idle => idle,
            State::IdleInTransaction => in_tx,
            State::IdleInTransactionAborted => aborted,
            State::Other => other,
        }
    }
}

impl PerState<u64> {
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_states_map_to_the_contract() {
        assert_eq!(State::from_postgres(Some("active")), State::Active);
        assert_eq!(
            State::from_postgres(Some("fastpath function call")),
            State::Active
        );
        assert_eq!(State::from_postgres(Some("idle")), State::Idle);
        assert_eq!(
            State::from_postgres(Some("idle in transaction")),
            State::IdleInTransaction
        );
        assert_eq!(
            State::from_postgres(Some("idle in transaction (aborted)")),
            State::IdleInTransactionAborted
        );
        assert_eq!(State::from_postgres(Some("disabled")), State::Other);
        assert_eq!(State::from_postgres(None), State::Other);
    }

    #[test]
    fn mysql_commands_map_to_the_contract() {
        assert_eq!(State::from_mysql("Sleep", false), Some(State::Idle));
        assert_eq!(
            State::from_mysql("Sleep", true),
            Some(State::IdleInTransaction)
        );
        assert_eq!(State::from_mysql("Query", false), Some(State::Active));
        assert_eq!(State::from_mysql("Execute", true), Some(State::Active));
        assert_eq!(State::from_mysql("Daemon", false), None);
        assert_eq!(State::from_mysql("Binlog Dump", false), None);
        assert_eq!(State::from_mysql("Slave_SQL", false), None);
    }
}
