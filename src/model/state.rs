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
