// Dark mode: follows prefers-color-scheme until the user picks a theme with
// the toggle; the choice is remembered in localStorage ("weir.theme").

import { useEffect, useState } from 'preact/hooks';

export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'weir.theme';
const media = matchMedia('(prefers-color-scheme: dark)');

function stored(): ThemeChoice {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : 'system';
  } catch {
    return 'system';
  }
}

function apply(c: ThemeChoice) {
  const t = c === 'system' ? (media.matches ? 'dark' : 'light') : c;
  document.documentElement.dataset.theme = t;
  dispatchEvent(new Event('weir-theme'));
}

export function useTheme(): [ThemeChoice, 'light' | 'dark', () => void] {
  const [choice, setChoice] = useState<ThemeChoice>(stored);
  useEffect(() => {
    apply(choice);
    const on = () => choice === 'system' && apply('system');
    media.addEventListener('change', on);
    return () => media.removeEventListener('change', on);
  }, [choice]);
  const next = () => {
    const order: ThemeChoice[] = ['system', 'light', 'dark'];
    const c = order[(order.indexOf(choice) + 1) % 3];
    try {
      if (c === 'system') localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, c);
    } catch {
      /* private mode */
    }
    apply(c);
    setChoice(c);
  };
  const effective = choice === 'system' ? (media.matches ? 'dark' : 'light') : choice;
  return [choice, effective, next];
}

/** The current effective theme (for charts that need colours in JS). */
export function isDark(): boolean {
  return document.documentElement.dataset.theme === 'dark';
}
