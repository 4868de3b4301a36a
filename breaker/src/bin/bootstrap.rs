//! The controller Lambda (`provided.al2023`): everything happens in [`breaker::lambda::run`].

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    breaker::lambda::run().await
}
