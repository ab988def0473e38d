//! The admin console's commands. The console speaks the simple query protocol
//! only, knows `SHOW`, `SET` and its own verbs, and no `SELECT`: the read is these
//! commands and nothing else (no `SET`, which would change the pooler for
//! everyone, and no prepared statement, which the console refuses).

pub const VERSION: &str = "SHOW VERSION";
pub const POOLS: &str = "SHOW POOLS";
pub const DATABASES: &str = "SHOW DATABASES";
pub const CONFIG: &str = "SHOW CONFIG";
pub const LISTS: &str = "SHOW LISTS";
pub const CLIENTS: &str = "SHOW CLIENTS";
pub const USERS: &str = "SHOW USERS";
