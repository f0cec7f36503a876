"""The server-rendered page: form, result, highlighted words, escaping, errors."""

from __future__ import annotations

from flask.testing import FlaskClient

from sentiment_mlops.model.artifact import SentimentModel


def test_index_has_a_form_posting_to_predict(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert '<form method="post" action="/predict">' in html
    assert '<textarea id="text" name="text"' in html
    assert "http://" not in html and "https://" not in html  # no external CDN


def test_form_renders_label_probability_and_highlights(client: FlaskClient, model: SentimentModel) -> None:
    review = "A wonderful, moving film. I loved it!"
    r = client.post("/predict", data={"text": review})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    expected = model.predict([review])[0]
    assert f'<span id="label" class="label-{expected.label}">{expected.label}</span>' in html
    assert f"{expected.probability:.3f}" in html
    assert '<mark class="pos">wonderful</mark>' in html


def test_negative_words_are_marked_red(client: FlaskClient) -> None:
    html = client.post("/predict", data={"text": "Awful, boring, the worst film ever."}).get_data(
        as_text=True
    )
    assert 'class="label-negative"' in html
    assert '<mark class="neg">' in html


def test_user_text_is_escaped(client: FlaskClient) -> None:
    html = client.post("/predict", data={"text": "<script>alert(1)</script> great"}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_blank_or_too_long_review_renders_an_error(client: FlaskClient) -> None:
    r = client.post("/predict", data={"text": "   "})
    assert r.status_code == 422 and 'id="error"' in r.get_data(as_text=True)
    r = client.post("/predict", data={"text": "a" * 2001})
    assert r.status_code == 413 and "limit is 2000" in r.get_data(as_text=True)


def test_form_endpoint_refuses_json(client: FlaskClient) -> None:
    r = client.post("/predict", json={"text": "great"})
    assert r.status_code == 415 and r.get_json()["error"]["code"] == "unsupported_media_type"
