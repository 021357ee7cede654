//! Nacos' user, role and permission API over the control plane (features `control` and `auth`),
//! served when the node has both a control plane ([`super::NacosApi::control`]) and auth
//! ([`super::NacosApi::access`]); every route needs the global admin.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /nacos/v1/auth/users` | `pageNo`, `pageSize`, `username`, `search` (`accurate`, the default, or `blur`) → Nacos' page `{"totalCount","pageNumber","pagesAvailable","pageItems":[{"username","password"}]}` |
//! | `POST /nacos/v1/auth/users` | `username`, `password` → `create user ok!` |
//! | `PUT /nacos/v1/auth/users` | `username`, `newPassword` → `update user ok!` |
//! | `DELETE /nacos/v1/auth/users` | `username` → `delete user ok!` (also when there was none, as in Nacos) |
//! | `GET /nacos/v1/auth/roles` | `pageNo`, `pageSize`, `username`, `role`, `search` → page of `{"role","username"}` |
//! | `POST /nacos/v1/auth/roles` | `role`, `username` → `add role ok!` |
//! | `DELETE /nacos/v1/auth/roles` | `role`, `username` (every user's binding without it) → `delete role of user USERNAME ok!` |
//! | `GET /nacos/v1/auth/permissions` | `pageNo`, `pageSize`, `role`, `search` → page of `{"role","resource","action"}` |
//! | `POST /nacos/v1/auth/permissions` | `role`, `resource`, `action` (`r`, `w`, `rw`) → `add permission ok!` |
//! | `DELETE /nacos/v1/auth/permissions` | `role`, `resource`, `action` → `delete permission ok!` |
//!
//! A success answers Nacos' `{"code":200,"message":null,"data":"... ok!"}`; a refusal 400 with
//! the reason in Nacos' words where Nacos has them (`user 'x' already exist!`,
//! `role x not found!`), 429 over a bound, 503 when the control plane takes no write.
//!
//! The password is hashed here (bcrypt, cost 10, on a blocking thread) before it is written:
//! the log holds the hash only. Each hash is tens of milliseconds of CPU, so at most
//! [`MAX_CONCURRENT_HASHES`] run at once (the login path's default bound,
//! [`crate::auth::DEFAULT_MAX_CONCURRENT_LOGINS`]); a write that finds them all taken answers
//! 503 at once, so a stolen admin token cannot fill the blocking pool.
//!
//! Differences from Nacos:
//! - The lists show what the control plane holds; the users file's users, roles and
//!   permissions are the operator's file, not listed. A name the file holds cannot be created,
//!   changed or deleted here (400, saying so).
//! - A user's `password` in the list is empty: Nacos returns the bcrypt hash.
//! - `ROLE_ADMIN` cannot be bound or unbound (Nacos cannot bind it either, and grants it once
//!   through `/users/admin`, which nacre does not serve: the global admin is the file's).
//! - Only the global admin may change a password; Nacos also lets a user change its own.
//! - `pageNo` and `pageSize` are optional (1 and 100); a page is at most 500 rows.

use super::params::Params;
use crate::auth::IdentityStore;
use crate::control::{
    ControlCommand, ControlError, ControlPlane, ControlResponse, ControlWriteError,
    LayeredIdentity, UserCommand, UserPermission,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::Arc;

/// The users path.
pub const USERS_PATH: &str = "/nacos/v1/auth/users";
/// The roles path.
pub const ROLES_PATH: &str = "/nacos/v1/auth/roles";
/// The permissions path.
pub const PERMISSIONS_PATH: &str = "/nacos/v1/auth/permissions";

/// The largest page.
const MAX_PAGE_SIZE: usize = 500;
/// bcrypt takes at most 72 bytes.
const MAX_PASSWORD_BYTES: usize = 72;
/// The most password hashes the API runs at once: see the module documentation.
pub const MAX_CONCURRENT_HASHES: usize = crate::auth::DEFAULT_MAX_CONCURRENT_LOGINS;

#[derive(Clone)]
struct Shared {
    control: Arc<dyn ControlPlane>,
    identity: Arc<LayeredIdentity>,
    /// Places for password hashes ([`MAX_CONCURRENT_HASHES`]).
    hashing: Arc<tokio::sync::Semaphore>,
}

type Users = State<Shared>;

/// The routes over `control`; `identity` tells the users file's users apart.
pub(crate) fn router(control: Arc<dyn ControlPlane>, identity: Arc<LayeredIdentity>) -> Router {
    Router::new()
        .route(
            USERS_PATH,
            get(list_users)
                .post(create_user)
                .put(update_user)
                .delete(delete_user),
        )
        .route(
            ROLES_PATH,
            get(list_roles).post(bind_role).delete(unbind_role),
        )
        .route(
            PERMISSIONS_PATH,
            get(list_permissions)
                .post(add_permission)
                .delete(delete_permission),
        )
        .with_state(Shared {
            control,
            identity,
            hashing: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_HASHES)),
        })
}

/// Why a call did nothing.
#[derive(Debug, thiserror::Error)]
enum UsersApiError {
    #[error("required parameter '{0}' is missing")]
    Missing(&'static str),
    #[error("{0}")]
    Bad(String),
    #[error("{0}")]
    Refused(ControlError),
    #[error(transparent)]
    Unavailable(#[from] ControlWriteError),
    #[error(
        "{MAX_CONCURRENT_HASHES} passwords are being hashed already, the most at once: try again"
    )]
    Busy,
}

impl IntoResponse for UsersApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            UsersApiError::Refused(ControlError::TooManyAuthEntries { .. }) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            UsersApiError::Unavailable(_) | UsersApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, self.to_string()).into_response()
    }
}

type Answer = Result<Response, UsersApiError>;

fn required<'a>(p: &'a Params, name: &'static str) -> Result<&'a str, UsersApiError> {
    match p.get(name).map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(UsersApiError::Missing(name)),
    }
}

/// Nacos' `RestResult` of a success.
fn ok(message: String) -> Response {
    Json(serde_json::json!({"code": 200, "message": null, "data": message})).into_response()
}

async fn write(shared: &Shared, command: UserCommand) -> Result<(), UsersApiError> {
    match shared.control.write(ControlCommand::Users(command)).await? {
        ControlResponse::Rejected(e) => Err(UsersApiError::Refused(e)),
        _ => Ok(()),
    }
}

/// A name the users file holds is the operator's file's, not the API's.
fn not_in_file(shared: &Shared, username: &str) -> Result<(), UsersApiError> {
    if shared.identity.file().has_user(username) {
        return Err(UsersApiError::Bad(format!(
            "user '{username}' is defined in the users file: change it there"
        )));
    }
    Ok(())
}

/// Hashes `password` on a blocking thread if one of `slots`' places is free, holding it until
/// the hash is done (even if the caller goes away meanwhile); [`UsersApiError::Busy`] at once
/// otherwise.
async fn hash(
    slots: &Arc<tokio::sync::Semaphore>,
    password: &str,
) -> Result<String, UsersApiError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(UsersApiError::Bad(format!(
            "the password must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    let place = slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| UsersApiError::Busy)?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let hashed = crate::auth::hash_password(&password);
        drop(place);
        hashed
    })
    .await
    .map_err(|e| UsersApiError::Bad(format!("the password could not be hashed: {e}")))?
    .map_err(|e| UsersApiError::Bad(e.to_string()))
}

/// Nacos' `Page`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    total_count: usize,
    page_number: usize,
    pages_available: usize,
    page_items: Vec<T>,
}

/// One page of `rows` as `pageNo` and `pageSize` ask.
fn page<T: Serialize>(p: &Params, rows: Vec<T>) -> Answer {
    let number = |name: &'static str, default: usize| -> Result<usize, UsersApiError> {
        match p.get(name).map(str::trim) {
            None | Some("") => Ok(default),
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| UsersApiError::Bad(format!("{name} must be a number from 1"))),
        }
    };
    let page_no = number("pageNo", 1)?;
    let size = number("pageSize", 100)?.min(MAX_PAGE_SIZE);
    let total = rows.len();
    let items = rows
        .into_iter()
        .skip((page_no - 1).saturating_mul(size))
        .take(size)
        .collect();
    Ok(Json(Page {
        total_count: total,
        page_number: page_no,
        pages_available: total.div_ceil(size),
        page_items: items,
    })
    .into_response())
}

/// Whether `value` passes the `search` filter for `wanted` (empty: everything).
fn wanted(p: &Params, name: &str, value: &str) -> bool {
    match p.get(name).map(str::trim) {
        None | Some("") => true,
        Some(w) if p.get("search") == Some("blur") => value.contains(w),
        Some(w) => value == w,
    }
}

#[derive(Serialize)]
struct UserRow {
    username: String,
    password: &'static str,
}

async fn list_users(State(shared): Users, p: Params) -> Answer {
    let state = shared.control.state();
    let rows = state
        .users()
        .usernames()
        .filter(|u| wanted(&p, "username", u))
        .map(|u| UserRow {
            username: u.clone(),
            password: "",
        })
        .collect();
    page(&p, rows)
}

/// A user's password from the parameter `field` (not empty), hashed, for a user whose name the
/// users file does not hold.
async fn password_of(
    shared: &Shared,
    p: &Params,
    username: &str,
    field: &'static str,
) -> Result<String, UsersApiError> {
    let password = p.get(field).ok_or(UsersApiError::Missing(field))?;
    if password.is_empty() {
        return Err(UsersApiError::Bad("the password must not be empty".into()));
    }
    not_in_file(shared, username)?;
    hash(&shared.hashing, password).await
}

async fn create_user(State(shared): Users, p: Params) -> Answer {
    let username = required(&p, "username")?.to_owned();
    let password_bcrypt = password_of(&shared, &p, &username, "password").await?;
    let command = UserCommand::CreateUser {
        username,
        password_bcrypt,
    };
    write(&shared, command).await?;
    Ok(ok("create user ok!".into()))
}

async fn update_user(State(shared): Users, p: Params) -> Answer {
    let username = required(&p, "username")?.to_owned();
    let password_bcrypt = password_of(&shared, &p, &username, "newPassword").await?;
    let command = UserCommand::SetPassword {
        username,
        password_bcrypt,
    };
    write(&shared, command).await?;
    Ok(ok("update user ok!".into()))
}

async fn delete_user(State(shared): Users, p: Params) -> Answer {
    let username = required(&p, "username")?;
    not_in_file(&shared, username)?;
    write(
        &shared,
        UserCommand::DeleteUser {
            username: username.to_owned(),
        },
    )
    .await?;
    Ok(ok("delete user ok!".into()))
}

#[derive(Serialize)]
struct RoleRow {
    role: String,
    username: String,
}

async fn list_roles(State(shared): Users, p: Params) -> Answer {
    let state = shared.control.state();
    let rows = state
        .users()
        .bindings()
        .filter(|(role, user)| wanted(&p, "role", role) && wanted(&p, "username", user))
        .map(|(role, user)| RoleRow {
            role: role.clone(),
            username: user.clone(),
        })
        .collect();
    page(&p, rows)
}

async fn bind_role(State(shared): Users, p: Params) -> Answer {
    let role = required(&p, "role")?;
    let username = required(&p, "username")?;
    if !shared.identity.has_user(username) {
        return Err(UsersApiError::Bad(format!("user '{username}' not found!")));
    }
    write(
        &shared,
        UserCommand::BindRole {
            role: role.to_owned(),
            username: username.to_owned(),
        },
    )
    .await?;
    Ok(ok("add role ok!".into()))
}

async fn unbind_role(State(shared): Users, p: Params) -> Answer {
    let role = required(&p, "role")?;
    let username = p.get("username").map(str::trim).filter(|u| !u.is_empty());
    write(
        &shared,
        UserCommand::UnbindRole {
            role: role.to_owned(),
            username: username.map(str::to_owned),
        },
    )
    .await?;
    Ok(ok(format!(
        "delete role of user {} ok!",
        username.unwrap_or_default()
    )))
}

async fn list_permissions(State(shared): Users, p: Params) -> Answer {
    let state = shared.control.state();
    let rows: Vec<UserPermission> = state
        .users()
        .permissions()
        .filter(|perm| wanted(&p, "role", &perm.role))
        .cloned()
        .collect();
    page(&p, rows)
}

fn permission_of(p: &Params) -> Result<UserPermission, UsersApiError> {
    Ok(UserPermission {
        role: required(p, "role")?.to_owned(),
        resource: required(p, "resource")?.to_owned(),
        action: required(p, "action")?.to_owned(),
    })
}

async fn add_permission(State(shared): Users, p: Params) -> Answer {
    let permission = permission_of(&p)?;
    write(&shared, UserCommand::AddPermission(permission)).await?;
    Ok(ok("add permission ok!".into()))
}

async fn delete_permission(State(shared): Users, p: Params) -> Answer {
    let permission = permission_of(&p)?;
    write(&shared, UserCommand::DeletePermission(permission)).await?;
    Ok(ok("delete permission ok!".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_waits_for_no_place_it_cannot_have() {
        let none = Arc::new(tokio::sync::Semaphore::new(0));
        assert!(matches!(
            hash(&none, "secret").await,
            Err(UsersApiError::Busy)
        ));
        assert_eq!(
            UsersApiError::Busy.into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let one = Arc::new(tokio::sync::Semaphore::new(1));
        let hashed = hash(&one, "secret").await.unwrap();
        assert!(
            bcrypt::verify("secret", &hashed).unwrap_or(false),
            "{hashed}"
        );
        // The place is given back once the hash is done.
        assert_eq!(one.available_permits(), 1);
        assert!(matches!(
            hash(&one, &"x".repeat(MAX_PASSWORD_BYTES + 1)).await,
            Err(UsersApiError::Bad(_))
        ));
    }
}
