//! The service list, paged.

use crate::common::{inst, key};
use crate::env::{Env, GROUP};

#[tokio::test]
async fn get_service_list_pages_through_the_names() {
    let env = Env::new();
    for name in ["c", "a", "b"] {
        env.node
            .register_instance(&key(name), inst("10.0.0.1"))
            .unwrap();
    }
    let client = env.client();
    let page = client.get_service_list(1, 2, GROUP).await.unwrap();
    assert_eq!(page.count, 3);
    assert_eq!(
        page.services.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let past_the_end = client.get_service_list(5, 2, GROUP).await.unwrap();
    assert!(past_the_end.services.is_empty());
    let zero = client.get_service_list(0, 0, GROUP).await.unwrap();
    assert!(zero.services.is_empty());
}
