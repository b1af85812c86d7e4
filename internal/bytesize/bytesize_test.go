package bytesize

import "testing"

func TestFormatReadsBack(t *testing.T) {
	for _, n := range []int64{1, 1000, 1 << 10, 3 << 20, 1 << 30, 5<<30 + 1} {
		got, err := Parse(Format(n))
		if err != nil || got != n {
			t.Errorf("Parse(Format(%d)) = %d, %v", n, got, err)
		}
	}
}

func TestFormatUsesTheLargestUnit(t *testing.T) {
	for n, want := range map[int64]string{1 << 30: "1GiB", 10 << 20: "10MiB", 512 << 10: "512KiB", 1000: "1000B"} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseRefusesWhatIsNotASize(t *testing.T) {
	for _, s := range []string{"", "0", "-1MiB", "1.5GiB", "1TiB", "10 MiB", "9999999999GiB"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func TestParseTakesDockerUnits(t *testing.T) {
	if n, err := Parse("2g"); err != nil || n != 2<<30 {
		t.Errorf("Parse(2g) = %d, %v", n, err)
	}
}
