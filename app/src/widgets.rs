//! Small form helpers shared by the pages.

use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

/// The input's new value as a `Callback<InputEvent>`.
pub fn on_input(cb: Callback<String>) -> Callback<InputEvent> {
    Callback::from(move |e: InputEvent| {
        cb.emit(e.target_unchecked_into::<HtmlInputElement>().value())
    })
}

pub fn on_textarea(cb: Callback<String>) -> Callback<InputEvent> {
    Callback::from(move |e: InputEvent| {
        cb.emit(e.target_unchecked_into::<HtmlTextAreaElement>().value())
    })
}

pub fn on_select(cb: Callback<String>) -> Callback<Event> {
    Callback::from(move |e: Event| cb.emit(e.target_unchecked_into::<HtmlSelectElement>().value()))
}

/// A labelled input with its inline error.
pub fn field(
    label: &str,
    testid: &str,
    kind: &str,
    value: &str,
    oninput: Callback<String>,
    error: Option<&str>,
) -> Html {
    field_as(label, testid, kind, None, value, oninput, error)
}

/// [`field`] with the browser's autofill named (`autocomplete`: "username",
/// "current-password", …). `kind` "secret": a masked text field the browser does not
/// offer to save as a password (an AWS secret is not the user's password).
pub fn field_as(
    label: &str,
    testid: &str,
    kind: &str,
    autocomplete: Option<&str>,
    value: &str,
    oninput: Callback<String>,
    error: Option<&str>,
) -> Html {
    let invalid = error.is_some();
    let secret = kind == "secret";
    let (kind, autocomplete) = if secret {
        ("text", Some("off"))
    } else {
        (kind, autocomplete)
    };
    html! {
        <label class={classes!("field", invalid.then_some("invalid"))}>
            <span class="label">{ label }</span>
            <input type={kind.to_string()} data-testid={testid.to_string()} value={value.to_string()}
                class={classes!(secret.then_some("secret"))}
                autocomplete={autocomplete.map(str::to_string)}
                spellcheck={secret.then_some("false")} autocapitalize={secret.then_some("off")}
                aria-invalid={invalid.to_string()} oninput={on_input(oninput)} />
            if let Some(e) = error {
                <span class="field-error" data-testid={format!("{testid}-error")}>{ e }</span>
            }
        </label>
    }
}

pub fn area(label: &str, testid: &str, value: &str, oninput: Callback<String>) -> Html {
    html! {
        <label class="field">
            <span class="label">{ label }</span>
            <textarea data-testid={testid.to_string()} value={value.to_string()} oninput={on_textarea(oninput)} />
        </label>
    }
}

/// Form state updated by closures applied to the *latest* value, so quick successive
/// inputs never overwrite each other with a stale copy.
#[derive(Clone, PartialEq)]
pub struct Form<T>(pub T);

pub type Edit<T> = std::rc::Rc<dyn Fn(&mut T)>;

impl<T: Clone + PartialEq + 'static> Reducible for Form<T> {
    type Action = Edit<T>;
    fn reduce(self: std::rc::Rc<Self>, f: Edit<T>) -> std::rc::Rc<Self> {
        let mut v = self.0.clone();
        f(&mut v);
        std::rc::Rc::new(Form(v))
    }
}

pub type FormHandle<T> = UseReducerHandle<Form<T>>;

/// A callback that writes a string into one field of the form.
pub fn setter<T: Clone + PartialEq + 'static>(
    form: &FormHandle<T>,
    f: impl Fn(&mut T, String) + 'static,
) -> Callback<String> {
    setter_dyn(form, std::rc::Rc::new(f))
}

/// Writes one string into a form value.
type Set<T> = std::rc::Rc<dyn Fn(&mut T, String)>;

// Not generic over the closure: one copy per form type instead of one per field.
fn setter_dyn<T: Clone + PartialEq + 'static>(form: &FormHandle<T>, f: Set<T>) -> Callback<String> {
    let form = form.clone();
    Callback::from(move |v: String| {
        let f = f.clone();
        form.dispatch(std::rc::Rc::new(move |t: &mut T| f(t, v.clone())));
    })
}

/// Applies one edit to the form.
pub fn edit<T: Clone + PartialEq + 'static>(form: &FormHandle<T>, f: impl Fn(&mut T) + 'static) {
    form.dispatch(std::rc::Rc::new(f));
}
