//! The repository of one contract in a SQL database.

use std::marker::PhantomData;

use super::conn::{Doing, store_error};
use super::query::{self, Statement, Table};
use super::value::{Column, ColumnKind, Row, SqlColumn};
use super::{Database, Record};
use crate::resource::FieldValue;
use crate::store::{BoxFuture, Change, Direction, ListQuery, Page, Repository, StoreError};
use crate::types::DateTime;

pub(crate) struct SqlStore<R> {
    db: Database,
    table: Table,
    kinds: Vec<ColumnKind>,
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
        SqlStore {
            db,
            table: Table {
                name: R::TABLE,
                columns: R::COLUMNS,
                key,
                soft_delete: R::SOFT_DELETE,
            },
            kinds: R::COLUMNS.iter().map(|c| c.kind).collect(),
            resource: PhantomData,
        }
    }

    fn column(&self, name: &str) -> Result<Column, StoreError> {
        R::COLUMNS
            .iter()
            .copied()
            .find(|c| c.name == name)
            .ok_or_else(|| StoreError::Internal(format!("{}: no column `{name}`", R::NAME)))
    }

    fn error(&self, doing: Doing) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |e| store_error(e, &self.table, doing)
    }

    fn resource(values: Vec<crate::sql::SqlValue>) -> Result<R, StoreError> {
        R::from_row(&mut Row::new(values, R::COLUMNS)).map_err(|e| {
            StoreError::Internal(format!("{}: a stored row does not read back: {e}", R::NAME))
        })
    }

    /// The server-generated key's next value, for integer keys; other keys ignore it.
    async fn next_sequence(&self, tx: &mut super::Tx<'_>) -> Result<u64, StoreError> {
        if self.table.key.kind != ColumnKind::Int64 {
            return Ok(0);
        }
        let statement = query::next_key(self.db.dialect(), &self.table);
        let next = tx
            .conn()
            .integer(statement)
            .await
            .map_err(self.error(Doing::Writing))?;
        Ok(u64::try_from(next).unwrap_or(0))
    }
}

impl<R: Record> SqlStore<R> {
    /// The filters of a list query, by column.
    fn filters(&self, query: &ListQuery) -> Result<Vec<(Column, FieldValue)>, StoreError> {
        query
            .filters
            .iter()
            .map(|(name, value)| Ok((self.column(name)?, value.clone())))
            .collect()
    }

    /// The page statement of a list query.
    pub(crate) fn list_statement(&self, query: &ListQuery) -> Result<Statement, StoreError> {
        let sort = query
            .sort
            .iter()
            .map(|(name, direction)| Ok((self.column(name)?, *direction)))
            .collect::<Result<Vec<(Column, Direction)>, StoreError>>()?;
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
            let rows = conn
                .conn()
                .rows(statement, &self.kinds)
                .await
                .map_err(self.error(Doing::Writing))?;
            let total = if query.include_total {
                let count = conn
                    .conn()
                    .integer(query::count(dialect, &self.table, &filters))
                    .await
                    .map_err(self.error(Doing::Writing))?;
                Some(u64::try_from(count).unwrap_or(0))
            } else {
                None
            };
            Ok(Page {
                items: rows
                    .into_iter()
                    .map(Self::resource)
                    .collect::<Result<_, _>>()?,
                limit: query.limit,
                offset: query.offset,
                total,
            })
        })
    }

    fn get<'a>(&'a self, key: &'a R::Key) -> BoxFuture<'a, Result<R, StoreError>> {
        Box::pin(async move {
            let statement =
                query::select_by_key(self.db.dialect(), &self.table, key.to_sql(), false);
            let mut conn = self.db.acquire().await?;
            let row = conn
                .conn()
                .rows(statement, &self.kinds)
                .await
                .map_err(self.error(Doing::Writing))?
                .pop()
                .ok_or(StoreError::NotFound)?;
            Self::resource(row)
        })
    }

    fn insert<'a>(
        &'a self,
        make: Box<dyn FnOnce(u64) -> R + Send + 'a>,
    ) -> BoxFuture<'a, Result<R, StoreError>> {
        Box::pin(async move {
            let mut tx = self.db.begin().await.map_err(self.error(Doing::Writing))?;
            let resource = make(self.next_sequence(&mut tx).await?);
            let statement = query::insert(self.db.dialect(), &self.table, resource.to_row());
            tx.conn()
                .execute(statement)
                .await
                .map_err(self.error(Doing::Writing))?;
            tx.commit().await.map_err(self.error(Doing::Writing))?;
            Ok(resource)
        })
    }

    fn update<'a>(
        &'a self,
        key: &'a R::Key,
        change: Change<'a, R>,
    ) -> BoxFuture<'a, Result<R, StoreError>> {
        Box::pin(async move {
            let dialect = self.db.dialect();
            let mut tx = self.db.begin().await.map_err(self.error(Doing::Writing))?;
            // Read and write in one transaction, the row locked: no concurrent change is lost.
            let row = tx
                .conn()
                .rows(
                    query::select_by_key(dialect, &self.table, key.to_sql(), true),
                    &self.kinds,
                )
                .await
                .map_err(self.error(Doing::Writing))?
                .pop()
                .ok_or(StoreError::NotFound)?;
            let mut resource = Self::resource(row)?;
            change(&mut resource);
            tx.conn()
                .execute(query::update(dialect, &self.table, resource.to_row()))
                .await
                .map_err(self.error(Doing::Writing))?;
            tx.commit().await.map_err(self.error(Doing::Writing))?;
            Ok(resource)
        })
    }

    fn delete<'a>(&'a self, key: &'a R::Key) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let statement = query::delete(
                self.db.dialect(),
                &self.table,
                key.to_sql(),
                DateTime::now(),
            );
            let mut conn = self.db.acquire().await?;
            let deleted = conn
                .conn()
                .execute(statement)
                .await
                .map_err(self.error(Doing::Deleting))?;
            if deleted == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            }
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.db.check())
    }
}
