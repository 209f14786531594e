"""Settings, read from environment variables (for example DATABASE_URL)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    app_name: str = "Shop Orders API"
    database_url: str = "sqlite:///./shop.db"

    # Listings.
    default_list_size: int = 50
    max_list_size: int = 100


settings = Settings()
