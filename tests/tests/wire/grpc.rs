//! The example's gRPC services, called with a tonic client over real HTTP/2 on the port that
//! serves REST.

use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

use crate::pb;
use crate::pb::label_service_client::LabelServiceClient;
use crate::pb::note_service_client::NoteServiceClient;
use crate::pb::project_service_client::ProjectServiceClient;
use crate::pb::task_service_client::TaskServiceClient;
use crate::{Served, admin_token, settings, token};

async fn channel(served: &Served) -> Channel {
    Channel::from_shared(served.url(""))
        .expect("a URI")
        .connect()
        .await
        .expect("an HTTP/2 connection")
}

fn signed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).expect("metadata"),
    );
    request
}

fn violations(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// A task of `project_id` with nothing but its title set.
fn new_task(project_id: &str, title: &str) -> pb::TaskCreateRequest {
    pb::TaskCreateRequest {
        body: Some(pb::TaskInput {
            project_id: project_id.to_owned(),
            title: title.to_owned(),
            ..Default::default()
        }),
    }
}

async fn new_project(channel: &Channel, name: &str) -> pb::Project {
    ProjectServiceClient::new(channel.clone())
        .create(signed(
            pb::ProjectCreateRequest {
                body: Some(pb::ProjectInput {
                    name: name.to_owned(),
                    owner_id: crate::ADMIN.to_owned(),
                    ..Default::default()
                }),
            },
            &admin_token(),
        ))
        .await
        .expect("a project")
        .into_inner()
}

#[tokio::test]
async fn every_task_rpc_answers_as_its_http_operation() {
    let served = Served::example(settings()).await;
    let channel = channel(&served).await;
    let admin = admin_token();
    let project = new_project(&channel, "Grpc tasks").await;
    let mut tasks = TaskServiceClient::new(channel.clone());

    let created = tasks
        .create(signed(
            pb::TaskCreateRequest {
                body: Some(pb::TaskInput {
                    project_id: project.id.clone(),
                    title: "Over gRPC".to_owned(),
                    priority: Some(pb::TaskPriority::Low as i32),
                    tags: vec!["rpc".to_owned()],
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("create");
    assert!(created.metadata().get("x-request-id").is_some());
    let created = created.into_inner();
    assert_eq!(created.title, "Over gRPC");
    assert_eq!(created.priority, pb::TaskPriority::Low as i32);

    let got = tasks
        .get(signed(
            pb::TaskGetRequest {
                id: created.id.clone(),
            },
            &admin,
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, created);

    // The list takes the HTTP API's filters, sort, count and cursors.
    for n in 0..3 {
        tasks
            .create(signed(
                new_task(&project.id, &format!("Listed {n}")),
                &admin,
            ))
            .await
            .expect("create");
    }
    let first = tasks
        .list(signed(
            pb::TaskListRequest {
                limit: Some(2),
                sort: vec!["title".to_owned()],
                include_total: true,
                filter: Some(pb::TaskFilter {
                    project_id: Some(project.id.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(first.total, Some(4));
    let titles: Vec<&str> = first.items.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["Listed 0", "Listed 1"]);
    let cursor = first.next.clone().expect("a next page");
    let second = tasks
        .list(signed(
            pb::TaskListRequest {
                limit: Some(2),
                sort: vec!["title".to_owned()],
                cursor,
                filter: Some(pb::TaskFilter {
                    project_id: Some(project.id.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect("next page")
        .into_inner();
    let titles: Vec<&str> = second.items.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["Listed 2", "Over gRPC"]);
    let filtered = tasks
        .list(signed(
            pb::TaskListRequest {
                conditions: vec![pb::TaskCondition {
                    field: "title".to_owned(),
                    op: "prefix".to_owned(),
                    values: vec!["Over".to_owned()],
                }],
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect("conditions")
        .into_inner();
    assert_eq!(filtered.items.len(), 1);

    let updated = tasks
        .update(signed(
            pb::TaskUpdateRequest {
                id: created.id.clone(),
                body: Some(pb::TaskInput {
                    project_id: project.id.clone(),
                    title: "Replaced".to_owned(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.title, "Replaced");
    let patched = tasks
        .patch(signed(
            pb::TaskPatchRequest {
                id: created.id.clone(),
                body: Some(pb::TaskPatch {
                    story_points: Some(5),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("patch")
        .into_inner();
    assert_eq!(patched.story_points, Some(5));
    // Deprecated (announced with `Deprecation` over HTTP), still served.
    #[allow(deprecated)]
    let completed = tasks
        .complete(signed(
            pb::TaskCompleteRequest {
                id: created.id.clone(),
                body: Some(pb::CompleteTask {
                    note: Some("done".to_owned()),
                }),
            },
            &admin,
        ))
        .await
        .expect("complete")
        .into_inner();
    assert!(completed.done);
    let reopened = tasks
        .reopen(signed(
            pb::TaskReopenRequest {
                id: created.id.clone(),
            },
            &admin,
        ))
        .await
        .expect("reopen")
        .into_inner();
    assert!(!reopened.done);
    let search = tasks
        .search(signed(
            pb::TaskSearchRequest {
                q: "Listed".to_owned(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect("search")
        .into_inner();
    assert_eq!(search.items.len(), 3);
    let stats = tasks
        .stats(signed(pb::TaskStatsRequest::default(), &admin))
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(stats.total, 4);
    tasks
        .delete(signed(
            pb::TaskDeleteRequest {
                id: created.id.clone(),
            },
            &admin,
        ))
        .await
        .expect("delete");
    let gone = tasks
        .get(signed(pb::TaskGetRequest { id: created.id }, &admin))
        .await
        .expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn errors_map_to_their_codes_with_details() {
    let served = Served::example(settings()).await;
    let channel = channel(&served).await;
    let admin = admin_token();
    let project = new_project(&channel, "Grpc errors").await;
    let mut tasks = TaskServiceClient::new(channel.clone());

    // No token: the operation is not public.
    let anonymous = tasks
        .list(tonic::Request::new(pb::TaskListRequest::default()))
        .await
        .expect_err("needs a token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    // A `user` may not delete (admins only).
    let user = token("00000000-0000-4000-8000-000000000002", &["user"]);
    let forbidden = tasks
        .delete(signed(
            pb::TaskDeleteRequest {
                id: "00000000-0000-4000-8000-0000000000aa".to_owned(),
            },
            &user,
        ))
        .await
        .expect_err("admins only");
    assert_eq!(forbidden.code(), Code::PermissionDenied);

    // Validation: every field violation, named as the request message names it.
    let invalid = tasks
        .create(signed(
            pb::TaskCreateRequest {
                body: Some(pb::TaskInput {
                    project_id: project.id.clone(),
                    title: String::new(),
                    story_points: Some(101),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields = violations(&invalid);
    assert!(fields.contains(&"body.title".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"body.story_points".to_owned()),
        "{fields:?}"
    );
    let bad_id = tasks
        .get(signed(
            pb::TaskGetRequest {
                id: "not-a-uuid".to_owned(),
            },
            &admin,
        ))
        .await
        .expect_err("not a UUID");
    assert_eq!(bad_id.code(), Code::InvalidArgument);
    let too_long = tasks
        .list(signed(
            pb::TaskListRequest {
                limit: Some(1000),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect_err("over the maximum");
    assert_eq!(too_long.code(), Code::InvalidArgument);
    assert_eq!(violations(&too_long), ["limit"]);

    // A path value cannot steer an rpc to another operation (`GET /v2/tasks/stats`).
    let steered = tasks
        .get(signed(
            pb::TaskGetRequest {
                id: "stats".to_owned(),
            },
            &admin,
        ))
        .await
        .expect_err("not a task");
    assert_eq!(steered.code(), Code::NotFound);

    // A body left unset is an empty body, judged as one.
    let empty = tasks
        .create(signed(pb::TaskCreateRequest { body: None }, &admin))
        .await
        .expect_err("an empty body");
    assert_eq!(empty.code(), Code::InvalidArgument);
    let fields = violations(&empty);
    assert!(fields.contains(&"body.title".to_owned()), "{fields:?}");

    // A unique name taken: the conflict.
    let mut projects = ProjectServiceClient::new(channel.clone());
    let taken = projects
        .create(signed(
            pb::ProjectCreateRequest {
                body: Some(pb::ProjectInput {
                    name: "Grpc errors".to_owned(),
                    owner_id: crate::ADMIN.to_owned(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect_err("the name is taken");
    assert_eq!(taken.code(), Code::AlreadyExists);

    // A method the server does not have.
    let mut labels = LabelServiceClient::new(channel.clone());
    let missing = labels
        .get(pb::LabelGetRequest {
            id: "nothing-here".to_owned(),
        })
        .await
        .expect_err("no such label");
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn rate_limits_are_the_http_apis_with_retry_info() {
    let served = Served::example(settings()).await;
    let channel = channel(&served).await;
    let admin = admin_token();
    let project = new_project(&channel, "Grpc limits").await;
    let mut tasks = TaskServiceClient::new(channel.clone());
    // Creating tasks allows a burst of 5 per user, then 10 a second.
    let mut refused = None;
    for n in 0..30 {
        let answer = tasks
            .create(signed(new_task(&project.id, &format!("Burst {n}")), &admin))
            .await;
        if let Err(status) = answer {
            refused = Some(status);
            break;
        }
    }
    let refused = refused.expect("the burst runs out");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    let delay = refused
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("a retry delay");
    assert!(delay.as_secs() <= 1, "{delay:?}");
}

#[tokio::test]
async fn notes_belong_to_the_caller_over_grpc_too() {
    let served = Served::example(settings()).await;
    let channel = channel(&served).await;
    let mut notes = NoteServiceClient::new(channel.clone());
    let alice = token("00000000-0000-4000-8000-00000000a11c", &["user"]);
    let bob = token("00000000-0000-4000-8000-000000000b0b", &["user"]);
    let note = notes
        .create(signed(
            pb::NoteCreateRequest {
                body: Some(pb::NoteInput {
                    title: "Alice's".to_owned(),
                    ..Default::default()
                }),
            },
            &alice,
        ))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(note.owner_id, "00000000-0000-4000-8000-00000000a11c");
    // The rpc names its route (the latest version's): a version header in the metadata, which
    // on HTTP would choose a route, changes nothing.
    let mut request = signed(
        pb::NoteGetRequest {
            id: note.id.clone(),
        },
        &alice,
    );
    request
        .metadata_mut()
        .insert("x-api-version", MetadataValue::from_static("1"));
    let same = notes.get(request).await.expect("get").into_inner();
    assert_eq!(same, note);
    let hidden = notes
        .get(signed(
            pb::NoteGetRequest {
                id: note.id.clone(),
            },
            &bob,
        ))
        .await
        .expect_err("not Bob's");
    assert_eq!(hidden.code(), Code::NotFound);
    let page = notes
        .list(signed(pb::NoteListRequest::default(), &bob))
        .await
        .expect("list")
        .into_inner();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn labels_round_trip_with_the_public_and_guarded_rpcs() {
    let served = Served::example(settings()).await;
    let channel = channel(&served).await;
    let admin = admin_token();
    let mut labels = LabelServiceClient::new(channel.clone());
    let created = labels
        .create(signed(
            pb::LabelCreateRequest {
                body: Some(pb::LabelInput {
                    slug: "grpc".to_owned(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(created.color, "#cccccc");
    // Public: no token needed.
    let listed = labels
        .list(pb::LabelListRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.items, vec![created.clone()]);
    let updated = labels
        .update(signed(
            pb::LabelUpdateRequest {
                id: "grpc".to_owned(),
                body: Some(pb::LabelInput {
                    slug: "grpc".to_owned(),
                    color: Some("#00ff00".to_owned()),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.color, "#00ff00");
    labels
        .delete(signed(
            pb::LabelDeleteRequest {
                id: "grpc".to_owned(),
            },
            &admin,
        ))
        .await
        .expect("delete");
}

#[tokio::test]
async fn reflection_lists_every_service_and_health_follows_readiness() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let served = Served::example(settings()).await;
    let channel = channel(&served).await;
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream_once(request))
        .await
        .expect("reflection")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("an answer")
        .expect("one message");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("a list of services: {answer:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in [
        "todo.v1.TaskService",
        "todo.v1.ProjectService",
        "todo.v1.NoteService",
        "todo.v1.LabelService",
        "todo.v1.CommentService",
        "todo.v1.UserService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&service), "{service} in {names:?}");
    }

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "todo.v1.TaskService".to_owned(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

/// A request stream of one message (what a client-streaming call takes).
fn tokio_stream_once<T: Send + 'static>(item: T) -> impl tonic::IntoStreamingRequest<Message = T> {
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let _ = sender.try_send(item);
    ReceiverStream(receiver)
}

/// The receiving end of a channel as a stream (tokio-stream's, in ten lines).
struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> tonic::codegen::tokio_stream::Stream for ReceiverStream<T> {
    type Item = T;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// The rpcs the other tests leave out: every one of the example's services is called.
#[tokio::test]
async fn the_remaining_rpcs_of_every_service_answer() {
    use crate::pb::comment_service_client::CommentServiceClient;
    use crate::pb::user_service_client::UserServiceClient;

    let served = Served::example(settings()).await;
    let channel = channel(&served).await;
    let admin = admin_token();

    // Users are the login module's accounts: one registers over HTTP, then calls as itself.
    let http = reqwest::Client::new();
    let credentials = serde_json::json!({
        "email": "grace@example.com",
        "password": "a long enough password",
    });
    let registered = http
        .post(served.url("/auth/register"))
        .json(&credentials)
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let tokens: serde_json::Value = http
        .post(served.url("/auth/login"))
        .json(&credentials)
        .send()
        .await
        .expect("sign in")
        .json()
        .await
        .expect("tokens");
    let grace = tokens["access_token"].as_str().expect("a token").to_owned();
    let mut users = UserServiceClient::new(channel.clone());
    let me = users
        .me(signed(pb::UserMeRequest {}, &grace))
        .await
        .expect("me")
        .into_inner();
    assert_eq!(me.email, "grace@example.com");
    let got = users
        .get(signed(pb::UserGetRequest { id: me.id.clone() }, &grace))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, me);
    let listed = users
        .list(signed(pb::UserListRequest::default(), &grace))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.items, vec![me.clone()]);
    let updated = users
        .update(signed(
            pb::UserUpdateRequest {
                id: me.id.clone(),
                body: Some(pb::UserInput {
                    display_name: Some("Grace Hopper".to_owned()),
                    settings: [("theme".to_owned(), "dark".to_owned())].into(),
                    ..Default::default()
                }),
            },
            &grace,
        ))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.display_name.as_deref(), Some("Grace Hopper"));
    assert_eq!(updated.settings["theme"], "dark");
    let patched = users
        .patch(signed(
            pb::UserPatchRequest {
                id: me.id.clone(),
                body: Some(pb::UserPatch {
                    avatar: Some(vec![0x89, b'P', b'N', b'G']),
                    ..Default::default()
                }),
            },
            &grace,
        ))
        .await
        .expect("patch")
        .into_inner();
    assert_eq!(
        patched.avatar.as_deref(),
        Some(&[0x89, b'P', b'N', b'G'][..])
    );
    assert_eq!(patched.display_name.as_deref(), Some("Grace Hopper"));

    // Projects: get, list, update, patch, delete.
    let mut projects = ProjectServiceClient::new(channel.clone());
    let project = new_project(&channel, "Grpc remaining").await;
    let got = projects
        .get(signed(
            pb::ProjectGetRequest {
                id: project.id.clone(),
            },
            &admin,
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, project);
    let listed = projects
        .list(signed(pb::ProjectListRequest::default(), &admin))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.items.contains(&project));
    let updated = projects
        .update(signed(
            pb::ProjectUpdateRequest {
                id: project.id.clone(),
                body: Some(pb::ProjectInput {
                    name: "Grpc renamed".to_owned(),
                    owner_id: crate::ADMIN.to_owned(),
                    visibility: Some(pb::Visibility::Public as i32),
                    budget: Some("1250.50".to_owned()),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.visibility, pb::Visibility::Public as i32);
    assert_eq!(updated.budget.as_deref(), Some("1250.50"));
    let patched = projects
        .patch(signed(
            pb::ProjectPatchRequest {
                id: project.id.clone(),
                body: Some(pb::ProjectPatch {
                    starts_on: Some("2030-01-31".to_owned()),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("patch")
        .into_inner();
    assert_eq!(patched.starts_on.as_deref(), Some("2030-01-31"));
    assert_eq!(patched.name, "Grpc renamed");

    // Comments: create, get, list, delete (on a task of that project).
    let task = TaskServiceClient::new(channel.clone())
        .create(signed(new_task(&project.id, "Commented"), &admin))
        .await
        .expect("a task")
        .into_inner();
    let mut comments = CommentServiceClient::new(channel.clone());
    let comment = comments
        .create(signed(
            pb::CommentCreateRequest {
                body: Some(pb::CommentInput {
                    task_id: task.id.clone(),
                    body: "Looks good".to_owned(),
                    reactions: [("+1".to_owned(), 2)].into(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(comment.reactions["+1"], 2);
    let got = comments
        .get(signed(pb::CommentGetRequest { id: comment.id }, &admin))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, comment);
    let listed = comments
        .list(signed(
            pb::CommentListRequest {
                filter: Some(pb::CommentFilter {
                    task_id: Some(task.id.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.items, vec![comment.clone()]);
    comments
        .delete(signed(pb::CommentDeleteRequest { id: comment.id }, &admin))
        .await
        .expect("delete");

    // Notes: update, patch, delete (create, get and list are above).
    let mut notes = NoteServiceClient::new(channel.clone());
    let note = notes
        .create(signed(
            pb::NoteCreateRequest {
                body: Some(pb::NoteInput {
                    title: "Draft".to_owned(),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("create")
        .into_inner();
    let updated = notes
        .update(signed(
            pb::NoteUpdateRequest {
                id: note.id.clone(),
                body: Some(pb::NoteInput {
                    title: "Final".to_owned(),
                    body: Some("Text".to_owned()),
                    pinned: Some(true),
                }),
            },
            &admin,
        ))
        .await
        .expect("update")
        .into_inner();
    assert!(updated.pinned);
    let patched = notes
        .patch(signed(
            pb::NotePatchRequest {
                id: note.id.clone(),
                body: Some(pb::NotePatch {
                    pinned: Some(false),
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .expect("patch")
        .into_inner();
    assert!(!patched.pinned);
    assert_eq!(patched.title, "Final");
    notes
        .delete(signed(pb::NoteDeleteRequest { id: note.id }, &admin))
        .await
        .expect("delete");
    projects
        .delete(signed(pb::ProjectDeleteRequest { id: project.id }, &admin))
        .await
        .expect("delete");
}
