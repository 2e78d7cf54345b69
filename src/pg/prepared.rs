//! SPI statements planned once per backend and kept (`SPI_keepplan`): the key
//! store's statements run on every cache miss and key creation, where
//! parsing and planning the text each time cost more than running it.
//! PostgreSQL's plan cache re-plans a kept statement when a table it uses
//! changes (dropping and re-creating the extension included); the names in
//! each statement are schema-qualified, so no search_path can redirect it.
//! A plan is kept for the life of the backend: a handful of statements.

use crate::error::PseudoError;
use pgrx::spi::{OwnedPreparedStatement, SpiClient};
use pgrx::PgOid;
use std::cell::RefCell;

/// A statement's text and argument types, declared as a `static`.
pub struct Statement {
    pub sql: &'static str,
    pub args: &'static [pgrx::PgBuiltInOids],
    /// Writes (or locks rows): planned with `prepare_mut`.
    pub mutating: bool,
}

thread_local! {
    static PLANS: RefCell<Vec<(*const Statement, &'static OwnedPreparedStatement)>> = const { RefCell::new(Vec::new()) };
}

impl Statement {
    /// The kept plan of this statement, prepared on first use.
    pub fn plan(&'static self, client: &SpiClient<'_>) -> Result<&'static OwnedPreparedStatement, PseudoError> {
        let me = self as *const Statement;
        if let Some(plan) = PLANS.with_borrow(|plans| plans.iter().find(|(s, _)| *s == me).map(|(_, p)| *p)) {
            return Ok(plan);
        }
        let args: Vec<PgOid> = self.args.iter().map(|oid| PgOid::BuiltIn(*oid)).collect();
        let prepared =
            if self.mutating { client.prepare_mut(self.sql, &args)? } else { client.prepare(self.sql, &args)? };
        // Leaked on purpose: kept until the backend exits, like the plan.
        let plan: &'static OwnedPreparedStatement = Box::leak(Box::new(prepared.keep()));
        PLANS.with_borrow_mut(|plans| plans.push((me, plan)));
        Ok(plan)
    }
}
