//! The repository of one contract in a SQL database.

use std::marker::PhantomData;
use std::sync::Arc;

use super::conn::{Conn, Doing, store_error};
use super::query::{self, Dialect, Prepared, SortKey, Statement, Table};
use super::value::{Column, ColumnKind, Row, SqlColumn, SqlValue};
use super::{Changes, Database, Record};
use crate::list::Condition;
use crate::store::{
    BoxFuture, Cause, Change, ListQuery, Make, Page, Repository, Scope, StoreError,
};
use crate::types::DateTime;

pub(crate) struct SqlStore<R> {
    db: Database,
    table: Table,
    /// How to read each column, shared with the writes' jobs (which outlive a borrow).
    kinds: Arc<[ColumnKind]>,
    /// The read by key and the insert, written once: the text of neither depends on the
    /// request, so a GET or a POST formats no SQL.
    by_key: Prepared,
    insert: Prepared,
    resource: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for SqlStore<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("table", &self.table.name)
            .field("dialect", &self.db.dialect())
            .finish()
    }
}

impl<R: Record> SqlStore<R> {
    pub(crate) fn new(db: Database) -> Self {
        let key = R::COLUMNS
            .iter()
            .copied()
            .find(|c| c.name == R::KEY_FIELD)
            // Generated code lists the key among the columns; a hand-written Record that does
            // not is a bug to see at start-up, not on the first request.
            .unwrap_or_else(|| panic!("{}: the key `{}` is not a column", R::NAME, R::KEY_FIELD));
        let table = Table {
            name: R::TABLE,
            columns: R::COLUMNS,
            key,
            soft_delete: R::SOFT_DELETE,
        };
        let dialect = db.dialect();
        SqlStore {
            db,
            table,
            kinds: R::COLUMNS.iter().map(|c| c.kind).collect(),
            by_key: query::select_by_key_prepared(dialect, &table),
            insert: query::insert_prepared(dialect, &table),
            resource: PhantomData,
        }
    }

    fn column(&self, name: &str) -> Result<Column, StoreError> {
        R::COLUMNS
            .iter()
            .copied()
            .find(|c| c.name == name)
            .ok_or_else(|| StoreError::Internal(format!("{}: no column `{name}`", R::NAME).into()))
    }

    fn error(&self, doing: Doing) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |e| store_error(e, &self.table, doing)
    }

    fn resource(values: Vec<crate::sql::SqlValue>) -> Result<R, StoreError> {
        R::from_row(&mut Row::new(values, R::COLUMNS)).map_err(|e| {
            StoreError::Internal(Cause::with_source(
                format!("{}: a stored row does not read back: {e}", R::NAME),
                e,
            ))
        })
    }
}

/// The server-generated key's next value, for integer keys (other keys ignore it), read in the
/// write's transaction so that no other write takes the same.
async fn next_sequence(
    conn: &mut Conn<'_>,
    dialect: Dialect,
    table: &Table,
) -> Result<u64, StoreError> {
    if table.key.kind != ColumnKind::Int64 {
        return Ok(0);
    }
    let next = conn
        .integer(query::next_key(dialect, table))
        .await
        .map_err(|e| store_error(e, table, Doing::Writing))?;
    Ok(u64::try_from(next).unwrap_or(0))
}

/// A missing reference the database did not name (SQLite never says which foreign key
/// failed): the reference field whose row is missing, found by looking each one up, so that
/// the 422 points at `/project_id` rather than at the body. Other errors pass unchanged.
async fn name_the_reference<R: Record>(
    conn: &mut Conn<'_>,
    dialect: Dialect,
    row: &[SqlValue],
    error: StoreError,
) -> StoreError {
    if error != (StoreError::MissingReference { field: None }) {
        return error;
    }
    for reference in R::REFERENCES {
        let Some((column, value)) = R::COLUMNS
            .iter()
            .zip(row)
            .find(|(column, _)| column.name == reference.column)
        else {
            continue;
        };
        if *value == SqlValue::Null {
            continue;
        }
        let statement = query::count_key(
            dialect,
            reference.table,
            reference.key,
            value.clone(),
            column.kind,
        );
        // A lookup that fails leaves the answer as the database gave it.
        if conn.integer(statement).await.is_ok_and(|count| count == 0) {
            return StoreError::MissingReference {
                field: Some(reference.column.to_owned()),
            };
        }
    }
    error
}

impl<R: Record> SqlStore<R> {
    /// The filters of a list query, by column.
    fn filters<'q>(
        &self,
        query: &'q ListQuery,
    ) -> Result<Vec<(Column, &'q Condition)>, StoreError> {
        query
            .filters
            .iter()
            .map(|filter| Ok((self.column(&filter.field)?, &filter.condition)))
            .collect()
    }

    /// The page statement of a list query.
    pub(crate) fn list_statement(&self, query: &ListQuery) -> Result<Statement, StoreError> {
        let sort = query
            .sort
            .iter()
            .map(|(name, direction)| {
                Ok(SortKey {
                    column: self.column(name)?,
                    direction: *direction,
                    nullable: R::SORTABLE
                        .iter()
                        .find(|f| f.name == name)
                        .is_none_or(|f| f.nullable),
                })
            })
            .collect::<Result<Vec<SortKey>, StoreError>>()?;
        Ok(query::select_page(
            self.db.dialect(),
            &self.table,
            &self.filters(query)?,
            &sort,
            query,
        ))
    }
}

impl<R: Record> Repository<R> for SqlStore<R> {
    fn list<'a>(&'a self, query: &'a ListQuery) -> BoxFuture<'a, Result<Page<R>, StoreError>> {
        Box::pin(async move {
            let statement = self.list_statement(query)?;
            let filters = self.filters(query)?;
            let dialect = self.db.dialect();
            let mut conn = self.db.acquire().await?;
            let mut rows = conn
                .conn()
                .rows(statement, &self.kinds)
                .await
                .map_err(self.error(Doing::Writing))?;
            // The statement reads one row past the limit: its presence says a page follows.
            let more = rows.len() > query.limit as usize;
            rows.truncate(query.limit as usize);
            let total = if query.count {
                let count = conn
                    .conn()
                    .integer(query::count(dialect, &self.table, &filters))
                    .await
                    .map_err(self.error(Doing::Writing))?;
                Some(u64::try_from(count).unwrap_or(0))
            } else {
                None
            };
            let items = rows
                .into_iter()
                .map(Self::resource)
                .collect::<Result<_, _>>()?;
            Ok(Page::new(items, query, more, total))
        })
    }

    fn get<'a>(
        &'a self,
        key: &'a R::Key,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<R, StoreError>> {
        Box::pin(async move {
            // The statement written once serves every read of all rows; a scoped read adds
            // the owner's condition.
            let statement = match scope {
                Scope::All => self.by_key.bind([key.to_sql()]),
                Scope::OwnedBy { .. } => {
                    query::select_by_key(self.db.dialect(), &self.table, key.to_sql(), scope, false)
                }
            };
            let mut conn = self.db.acquire().await?;
            let row = conn
                .conn()
                .row(statement, &self.kinds)
                .await
                .map_err(self.error(Doing::Writing))?
                .ok_or(StoreError::NotFound)?;
            Self::resource(row)
        })
    }

    fn insert<'a>(&'a self, make: Make<R>) -> BoxFuture<'a, Result<R, StoreError>> {
        let (dialect, table, insert) = (self.db.dialect(), self.table, self.insert.clone());
        Box::pin(self.db.write(Changes::Alone, move |mut conn| {
            Box::pin(async move {
                let resource = make(next_sequence(&mut conn, dialect, &table).await?);
                let row = resource.to_row();
                if let Err(e) = conn.execute(insert.bind(row.clone())).await {
                    let error = store_error(e, &table, Doing::Writing);
                    return Err(name_the_reference::<R>(&mut conn, dialect, &row, error).await);
                }
                Ok(resource)
            })
        }))
    }

    fn update<'a>(
        &'a self,
        key: &'a R::Key,
        scope: &'a Scope,
        change: Change<R>,
    ) -> BoxFuture<'a, Result<R, StoreError>> {
        let (dialect, table, kinds) = (self.db.dialect(), self.table, self.kinds.clone());
        // The row is read within the scope and locked (or the writer is alone) until the
        // update: an owner never changes (the field is read-only), so none can in between.
        let select = query::select_by_key(dialect, &table, key.to_sql(), scope, true);
        Box::pin(self.db.write(Changes::OneStatement, move |mut conn| {
            Box::pin(async move {
                let error = |e| store_error(e, &table, Doing::Writing);
                // Read and write in one transaction (on PostgreSQL the row locked; on SQLite
                // the writer is alone): no concurrent change is lost.
                let row = conn
                    .rows(select, &kinds)
                    .await
                    .map_err(error)?
                    .pop()
                    .ok_or(StoreError::NotFound)?;
                let mut resource = Self::resource(row)?;
                change(&mut resource);
                let row = resource.to_row();
                if let Err(e) = conn
                    .execute(query::update(dialect, &table, row.clone()))
                    .await
                {
                    return Err(name_the_reference::<R>(&mut conn, dialect, &row, error(e)).await);
                }
                Ok(resource)
            })
        }))
    }

    fn delete<'a>(
        &'a self,
        key: &'a R::Key,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let table = self.table;
        let statement = query::delete(
            self.db.dialect(),
            &table,
            key.to_sql(),
            scope,
            DateTime::now(),
        );
        Box::pin(self.db.write(Changes::Alone, move |mut conn| {
            Box::pin(async move {
                let deleted = conn
                    .execute(statement)
                    .await
                    .map_err(|e| store_error(e, &table, Doing::Deleting))?;
                if deleted == 0 {
                    Err(StoreError::NotFound)
                } else {
                    Ok(())
                }
            })
        }))
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.db.check())
    }
}
