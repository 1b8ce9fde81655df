//! The physical floors every storage figure is judged against, measured
//! in the same run: a raw `fsync` of a small write, a raw redb commit of
//! one key with `Durability::Immediate` (what one durable store call can
//! cost at best), and a PostgreSQL round trip (`SELECT 1` on an open
//! connection).

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use latchkey_sqlx::sqlx::{self, Connection as _};
use redb::{Database, Durability, TableDefinition};

use crate::BenchError;

const FLOOR: TableDefinition<u64, &[u8]> = TableDefinition::new("floor");

/// A file to `write` + `fdatasync` 256 bytes at a time.
pub struct FsyncFloor {
    file: std::fs::File,
}

impl FsyncFloor {
    /// Creates the file in `dir`.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn new(dir: &Path) -> Result<Self, BenchError> {
        Ok(FsyncFloor {
            file: std::fs::File::create(dir.join("fsync.floor"))?,
        })
    }

    /// One durable append.
    ///
    /// # Errors
    /// I/O failures.
    pub fn once(&mut self) -> Result<(), BenchError> {
        self.file.write_all(&[7u8; 256])?;
        self.file.sync_data()?;
        Ok(())
    }
}

/// A redb file to commit one 256-byte value at a time.
pub struct RedbFloor {
    db: Database,
    n: u64,
}

impl RedbFloor {
    /// Creates the database in `dir`.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn new(dir: &Path) -> Result<Self, BenchError> {
        Ok(RedbFloor {
            db: Database::create(dir.join("floor.redb"))?,
            n: 0,
        })
    }

    /// One durable commit of one key.
    ///
    /// # Errors
    /// redb failures.
    pub fn once(&mut self) -> Result<(), BenchError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut t = txn.open_table(FLOOR)?;
            t.insert(self.n, [7u8; 256].as_slice())?;
        }
        txn.commit()?;
        self.n += 1;
        Ok(())
    }
}

/// An open PostgreSQL connection.
pub struct PgFloor {
    conn: sqlx::PgConnection,
}

impl PgFloor {
    /// Connects to the benchmark server.
    ///
    /// # Errors
    /// When it is unreachable.
    pub async fn connect() -> Result<Self, BenchError> {
        Ok(PgFloor {
            conn: sqlx::PgConnection::connect(&crate::backends::pg_admin_url()).await?,
        })
    }

    /// One round trip.
    ///
    /// # Errors
    /// Connection failures.
    pub async fn once(&mut self) -> Result<(), BenchError> {
        sqlx::query("SELECT 1").execute(&mut self.conn).await?;
        Ok(())
    }
}

/// The median of `n` timings of `f`, in microseconds.
///
/// # Errors
/// The first failure of `f`.
pub fn median_us(
    n: usize,
    mut f: impl FnMut() -> Result<(), BenchError>,
) -> Result<f64, BenchError> {
    let mut xs = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        xs.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(crate::median(&mut xs))
}

/// The three floors, median microseconds of `n` each (the PostgreSQL one
/// is `None` when the server is unreachable).
#[derive(Clone, Copy, Debug)]
pub struct Floors {
    /// `write` + `fdatasync` of 256 bytes.
    pub fsync_us: f64,
    /// One redb commit with `Durability::Immediate`.
    pub redb_commit_us: f64,
    /// `SELECT 1` on an open connection.
    pub pg_round_trip_us: Option<f64>,
}

/// Measures the floors in a scratch directory.
///
/// # Errors
/// When the scratch files cannot be made.
pub async fn measure(n: usize) -> Result<Floors, BenchError> {
    let dir = crate::backends::scratch_dir("lk_bench_floor")?;
    let mut fs = FsyncFloor::new(&dir)?;
    let fsync_us = median_us(n, || fs.once())?;
    let mut rf = RedbFloor::new(&dir)?;
    let redb_commit_us = median_us(n, || rf.once())?;
    let pg_round_trip_us = match PgFloor::connect().await {
        Ok(mut pg) => {
            let mut xs = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                pg.once().await?;
                xs.push(t.elapsed().as_secs_f64() * 1e6);
            }
            Some(crate::median(&mut xs))
        }
        Err(_) => None,
    };
    drop((fs, rf));
    let _ = std::fs::remove_dir_all(dir);
    Ok(Floors {
        fsync_us,
        redb_commit_us,
        pg_round_trip_us,
    })
}

/// Formats a duration in microseconds with one decimal.
#[must_use]
pub fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}
